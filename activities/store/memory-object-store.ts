import type { Readable } from 'node:stream';
import type { ObjectStore, StoredObject } from './object-store';

/** In-memory store for pure unit tests of the layers above ObjectStore. Never used by the product. */
export class MemoryObjectStore implements ObjectStore {
  readonly location = 'memory://';
  readonly objects = new Map<string, { body: Buffer; lastModified: Date }>();
  puts = 0;

  async put(key: string, body: Buffer | string): Promise<void> {
    this.puts++;
    this.objects.set(key, { body: Buffer.from(body), lastModified: new Date() });
  }
  async putIfAbsent(key: string, body: Buffer | string): Promise<boolean> {
    if (this.objects.has(key)) return false;
    await this.put(key, body);
    return true;
  }
  async putStream(key: string, body: Readable): Promise<void> {
    const parts: Buffer[] = [];
    for await (const p of body) parts.push(Buffer.from(p));
    await this.put(key, Buffer.concat(parts));
  }
  async get(key: string): Promise<Buffer | undefined> {
    return this.objects.get(key)?.body;
  }
  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    const o = this.objects.get(key);
    if (!o) throw new Error(`no such key ${key}`);
    return o.body.subarray(offset, offset + length);
  }
  async head(key: string) {
    const o = this.objects.get(key);
    return o ? { size: o.body.length, lastModified: o.lastModified } : undefined;
  }
  async *list(prefix: string): AsyncIterable<StoredObject> {
    for (const key of [...this.objects.keys()].sort()) {
      if (key.startsWith(prefix)) {
        const o = this.objects.get(key)!;
        yield { key, size: o.body.length, lastModified: o.lastModified };
      }
    }
  }
  async delete(keys: string[]): Promise<void> {
    for (const k of keys) this.objects.delete(k);
  }
}
