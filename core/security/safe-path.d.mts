export declare class UnsafePathError extends Error {
  readonly path: string;
  readonly problem: string;
  constructor(path: string, problem: string, what: string);
}
export declare function unsafePathReason(path: string, opts?: { uid?: number }): string | null;
export declare function assertSafePath(path: string, what: string, opts?: { uid?: number }): void;
export declare function ensureSafeCacheDir(dir: string, what: string): void;
export declare function assertOwnCacheFile(file: string, what: string): void;
