/**
 * A bounded cache with two generations: reads look in the young one, then the old one (and promote
 * what they find); when the young one is full it becomes the old one and the previous old one is
 * dropped whole. Nothing is ever deleted one key at a time from the front of a `Map`, which in V8
 * leaves tombstones that later lookups and evictions walk over. Holds between `max / 2` and `max`
 * entries; what is dropped is the least recently used half, approximately.
 *
 * @example
 * ```ts
 * const cache = new GenerationalCache<string, number>(1000);
 * cache.set('a', 1);
 * cache.get('a'); // 1
 * ```
 */
export class GenerationalCache<K, V> {
  #young = new Map<K, V>();
  #old = new Map<K, V>();
  readonly #half: number;

  constructor(max: number) {
    this.#half = Math.max(1, Math.floor(max / 2));
  }

  get(key: K): V | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: K, value: V): void {
    if (this.#young.size >= this.#half && !this.#young.has(key)) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }

  delete(key: K): void {
    this.#young.delete(key);
    this.#old.delete(key);
  }

  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }

  /** Visits every entry (young first); an entry may appear in both generations. */
  *entries(): IterableIterator<[K, V]> {
    yield* this.#young;
    yield* this.#old;
  }
}
