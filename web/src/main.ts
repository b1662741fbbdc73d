/**
 * The page's entry: signed out, it shows the sign-in form; signed in, it builds the two
 * panes around one App and routes by the URL hash (`#/chat/<conversation_id>`), so the
 * browser's back button leaves a chat on a phone. Only this file and the views touch the
 * document; the protocol is the client core's and the state lives in the models.
 */
import { App } from "./app.js";
import { Api } from "./net/api.js";
import { uuidV4 } from "./net/random.js";
import { clearSession, loadSession, saveSession, setNotice, takeNotice, type Session } from "./session.js";
import { authView } from "./ui/auth-view.js";
import { ChatView } from "./ui/chat-view.js";
import { h, setChildren } from "./ui/dom.js";
import { SidebarView } from "./ui/sidebar-view.js";

const root = document.getElementById("app")!;
const announcer = document.getElementById("announcer")!;
const BASE_TITLE = document.title;

function announce(text: string): void {
  // One short line at a time; screen readers read additions to the live region.
  const line = h("p", {}, text);
  announcer.appendChild(line);
  while (announcer.childNodes.length > 3) announcer.firstChild?.remove();
}

function signedOut(notice: string | null): void {
  document.title = BASE_TITLE;
  document.body.classList.remove("chat-open");
  const api = new Api(null);
  setChildren(
    root,
    authView(api, notice, (created, username) => {
      const session: Session = {
        token: created.token,
        user_id: created.user_id,
        username,
        device_id: created.device_id ?? uuidV4(),
        expires_at: created.expires_at,
      };
      saveSession(session);
      signedIn(session);
    }),
  );
  root.removeAttribute("aria-busy");
}

function signedIn(session: Session): void {
  const api = new Api(session.token);
  let ended = false;
  const end = (reason: string | null): void => {
    if (ended) return;
    ended = true;
    app.stop();
    clearSession();
    if (reason !== null) setNotice(reason);
    // A fresh page is the surest way to drop every piece of the old session's state.
    location.hash = "";
    location.reload();
  };
  const app: App = new App(session, api, () => draw(), announce, end);
  const sidebar = new SidebarView(app);
  const chat = new ChatView(app);
  const banner = h("div", { class: "banner", role: "status", hidden: true }, h("span", { class: "spinner", "aria-hidden": "true" }), "Connecting…");
  const notice = h("div", { class: "notice", role: "alert", hidden: true });
  const shell = h("div", { class: "shell" }, sidebar.el, chat.el);
  setChildren(root, banner, notice, shell);
  root.removeAttribute("aria-busy");

  function draw(): void {
    const now = Date.now();
    banner.hidden = !app.bannerShown(now);
    notice.hidden = app.notice === null;
    notice.textContent = app.notice ?? "";
    document.body.classList.toggle("chat-open", app.open !== null);
    sidebar.update(now);
    chat.update(now);
    const unread = app.totalUnread;
    document.title = unread > 0 ? `(${unread}) ${BASE_TITLE}` : BASE_TITLE;
  }

  const route = (): void => {
    const m = /^#\/chat\/([A-Za-z0-9_.-]+)$/.exec(location.hash);
    app.openChat(m === null ? null : m[1]!);
  };
  window.addEventListener("hashchange", route);
  route();
  draw();
  void app.start();
  // Relative times ("Yesterday", "last seen") move on by themselves.
  setInterval(() => app.invalidate(), 30_000);
}

const session = loadSession();
if (session === null) signedOut(takeNotice());
else signedIn(session);
