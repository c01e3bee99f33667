// What core/config/load.ts and its evaluation worker (eval-worker.ts) say to each other.

/** One evaluation: the bundled config and how to run it. */
export interface EvalJob {
  file: string;
  code: string;
  /** The bundle's file name, as stack frames show it (mapped back through the source map). */
  bundleName: string;
  env?: Record<string, string | undefined>;
  timeoutMs: number;
}

/** A thrown value as data: an error's parts, or the text of anything else thrown. */
export type ThrownData =
  | { error: true; name: string; message: string; stack?: string; code?: string }
  | { error: false; text: string };

export type EvalMessage =
  | { kind: 'ready' }
  /** The evaluation entered a new step; its time limit starts again. */
  | { kind: 'phase'; phase: string }
  | { kind: 'value'; value: unknown }
  /** The value as JSON text, when JSON carries it exactly (faster to take in than a structured clone)… */
  | { kind: 'json'; text: string; pieces?: string[] }
  /**
   * …whose top-level arrays named in `pieces` came before it, element by
   * element (one JSON text each), appended in order: an element whose text is
   * the same as in the last load is not parsed again, and its validation is
   * reused (core/config/schema.ts ServiceMemo).
   */
  | { kind: 'json-items'; key: string; texts: string[] }
  | { kind: 'failed'; error: string }
  | { kind: 'thrown'; thrown: ThrownData; when: string };
