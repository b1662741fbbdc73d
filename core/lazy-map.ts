/**
 * LazyMap and LazySet: a Map and a Set that allocate their hash table on the first insert.
 *
 * Why: a gateway keeps ten maps and sets per connection (core/gateway/state.ts), and an empty
 * `new Map()` already holds a hash table sized for four entries: about 180 bytes each, so
 * ~1.8 KB of every idle connection's ~6.7 KB of JavaScript heap (bench/results/density.md)
 * was empty tables. Most connections are idle, and an idle one never inserts.
 *
 * Rules: iteration order, and every answer, are the wrapped Map's or Set's (insertion order),
 * so replacing a Map with a LazyMap cannot change a simulated run (its trace hash). Once
 * allocated the table stays, even when emptied: a connection that sends keeps inserting and
 * deleting, and re-allocating per message would trade heap for garbage.
 */

/** Iterated when nothing was inserted yet; never written to. */
const EMPTY_MAP = new Map<unknown, unknown>();
const EMPTY_SET = new Set<unknown>();

export class LazyMap<K, V> implements Map<K, V> {
  private inner: Map<K, V> | null = null;

  get size(): number {
    return this.inner === null ? 0 : this.inner.size;
  }

  get(key: K): V | undefined {
    return this.inner === null ? undefined : this.inner.get(key);
  }

  has(key: K): boolean {
    return this.inner !== null && this.inner.has(key);
  }

  set(key: K, value: V): this {
    (this.inner ??= new Map()).set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.inner !== null && this.inner.delete(key);
  }

  clear(): void {
    this.inner?.clear();
  }

  forEach(callback: (value: V, key: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    this.inner?.forEach((value, key) => callback.call(thisArg, value, key, this));
  }

  keys(): MapIterator<K> {
    return (this.inner ?? (EMPTY_MAP as Map<K, V>)).keys();
  }

  values(): MapIterator<V> {
    return (this.inner ?? (EMPTY_MAP as Map<K, V>)).values();
  }

  entries(): MapIterator<[K, V]> {
    return (this.inner ?? (EMPTY_MAP as Map<K, V>)).entries();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return "Map";
  }
}

export class LazySet<T> implements Set<T> {
  private inner: Set<T> | null = null;

  get size(): number {
    return this.inner === null ? 0 : this.inner.size;
  }

  has(value: T): boolean {
    return this.inner !== null && this.inner.has(value);
  }

  add(value: T): this {
    (this.inner ??= new Set()).add(value);
    return this;
  }

  delete(value: T): boolean {
    return this.inner !== null && this.inner.delete(value);
  }

  clear(): void {
    this.inner?.clear();
  }

  forEach(callback: (value: T, value2: T, set: Set<T>) => void, thisArg?: unknown): void {
    this.inner?.forEach((value) => callback.call(thisArg, value, value, this));
  }

  keys(): SetIterator<T> {
    return (this.inner ?? (EMPTY_SET as Set<T>)).keys();
  }

  values(): SetIterator<T> {
    return (this.inner ?? (EMPTY_SET as Set<T>)).values();
  }

  entries(): SetIterator<[T, T]> {
    return (this.inner ?? (EMPTY_SET as Set<T>)).entries();
  }

  [Symbol.iterator](): SetIterator<T> {
    return this.values();
  }

  get [Symbol.toStringTag](): string {
    return "Set";
  }
}
