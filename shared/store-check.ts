/** Result of the object-store round trip that `drctl store check` runs. */
export interface StoreCheckResult {
  location: string;
  key: string;
  bytes: number;
  sha256: string;
  putMs: number;
  getMs: number;
}
