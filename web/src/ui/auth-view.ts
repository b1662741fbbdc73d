/**
 * Sign in and sign up: one form, two buttons. Creating an account signs in right after.
 * Errors are read aloud (role="alert") and name what to fix.
 */
import { LIMITS } from "../../../core/limits.js";
import { ApiFailure, type Api, type SessionCreated } from "../net/api.js";
import { h } from "./dom.js";
import { icon } from "./icons.js";

const USERNAME_RULE = `${LIMITS.usernameCharsMin}–${LIMITS.usernameCharsMax} characters: a–z, 0–9, “_”, “.” and “-”`;

export function authView(api: Api, notice: string | null, onSession: (s: SessionCreated, username: string) => void): HTMLElement {
  const error = h("p", { class: "form-error", role: "alert", id: "auth-error" }, notice ?? "");
  const username = h("input", {
    id: "auth-username",
    name: "username",
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: "false",
    required: true,
    minlength: LIMITS.usernameCharsMin,
    maxlength: LIMITS.usernameCharsMax,
    pattern: "[a-z0-9_.\\-]+",
    "aria-describedby": "auth-username-hint auth-error",
  });
  const password = h("input", {
    id: "auth-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    minlength: LIMITS.passwordCharsMin,
    maxlength: LIMITS.passwordCharsMax,
    "aria-describedby": "auth-password-hint auth-error",
  });
  const signIn = h("button", { type: "submit", class: "primary", value: "signin" }, "Sign in");
  const signUp = h("button", { type: "submit", class: "secondary", value: "signup" }, "Create account");

  const form = h(
    "form",
    { class: "auth-card", novalidate: true, "aria-labelledby": "auth-title" },
    h("h1", { id: "auth-title" }, icon("logo", null, "logo"), "Chat"),
    h("p", { class: "auth-lead" }, "Sign in, or create an account to start chatting."),
    h("label", { for: "auth-username" }, "Username"),
    username,
    h("p", { class: "hint", id: "auth-username-hint" }, USERNAME_RULE),
    h("label", { for: "auth-password" }, "Password"),
    password,
    h("p", { class: "hint", id: "auth-password-hint" }, `At least ${LIMITS.passwordCharsMin} characters`),
    error,
    h("div", { class: "auth-actions" }, signIn, signUp),
  );

  const busy = (on: boolean): void => {
    signIn.disabled = on;
    signUp.disabled = on;
    form.setAttribute("aria-busy", String(on));
  };

  form.addEventListener("submit", (event: SubmitEvent) => {
    event.preventDefault();
    const creating = (event.submitter as HTMLButtonElement | null)?.value === "signup";
    const name = username.value.trim().toLowerCase();
    const pass = password.value;
    const problem = check(name, pass);
    if (problem !== null) {
      error.textContent = problem;
      return;
    }
    error.textContent = "";
    busy(true);
    (async () => {
      if (creating) await api.signUp(name, pass);
      const session = await api.signIn(name, pass);
      onSession(session, name);
    })().catch((e: unknown) => {
      busy(false);
      error.textContent = explain(e, creating);
    });
  });
  password.autocomplete = "current-password";
  signUp.addEventListener("click", () => (password.autocomplete = "new-password"));

  queueMicrotask(() => username.focus());
  return h("main", { class: "auth" }, form);
}

function check(username: string, password: string): string | null {
  if (username.length < LIMITS.usernameCharsMin || username.length > LIMITS.usernameCharsMax || !/^[a-z0-9_.-]+$/.test(username)) {
    return `Usernames are ${USERNAME_RULE}.`;
  }
  if (password.length < LIMITS.passwordCharsMin) return `Passwords are at least ${LIMITS.passwordCharsMin} characters.`;
  if (password.length > LIMITS.passwordCharsMax) return `Passwords are at most ${LIMITS.passwordCharsMax} characters.`;
  return null;
}

function explain(e: unknown, creating: boolean): string {
  if (e instanceof ApiFailure) {
    if (e.code === "USERNAME_TAKEN") return "That username is taken. Try another, or sign in.";
    if (e.code === "BAD_CREDENTIALS" || (!creating && e.status === 401)) return "Wrong username or password.";
    if (e.status === 429) return "Too many tries. Wait a moment and try again.";
    return e.message;
  }
  return "Something went wrong. Please try again.";
}
