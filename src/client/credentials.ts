import { SwitchboardError } from './errors.js';
import { tokenExpiry } from './token.js';

/**
 * The client's token: the fixed one, or the latest from `getToken` (called at every
 * connect), and its renewal on a live connection with the `refresh` frame
 * `refreshBefore` ms before `exp` (at most half the token's remaining life).
 */
export class Credentials {
  #token: string | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** False once a gateway answered `refresh` with BAD_REQUEST (it predates the frame). */
  #refreshSupported = true;

  constructor(
    token: string | undefined,
    private readonly getToken: (() => string | Promise<string>) | undefined,
    private readonly refreshBefore: number,
    private readonly onError: (err: SwitchboardError) => void,
  ) {
    this.#token = token;
  }

  get token(): string | undefined {
    return this.#token;
  }

  /** Whether a new token can be had (getToken was given). */
  get renewable(): boolean {
    return this.getToken !== undefined;
  }

  /** A new token from getToken, kept as the current one; undefined without getToken or when it threw (reported). */
  async next(): Promise<string | undefined> {
    if (this.getToken === undefined) return undefined;
    try {
      this.#token = await this.getToken();
      return this.#token;
    } catch (err) {
      this.onError(new SwitchboardError('TOKEN', `getToken failed: ${err instanceof Error ? err.message : String(err)}`));
      return undefined;
    }
  }

  /**
   * Arms the refresh for the current token. `send` writes the refresh frame and settles
   * with the answer; `live` says whether the connection it was armed for is still the current one.
   */
  scheduleRefresh(send: (token: string) => Promise<unknown>, live: () => boolean): void {
    this.cancelRefresh();
    if (this.getToken === undefined || !this.#refreshSupported || this.#token === undefined || this.refreshBefore <= 0) return;
    const exp = tokenExpiry(this.#token);
    if (exp === undefined) return;
    const now = Date.now();
    const lead = Math.min(this.refreshBefore, Math.max(0, (exp - now) / 2));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#refresh(send, live);
    }, Math.max(0, exp - lead - now));
  }

  cancelRefresh(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #refresh(send: (token: string) => Promise<unknown>, live: () => boolean): Promise<void> {
    const token = await this.next();
    if (token === undefined || !live()) return;
    try {
      await send(token);
      if (live()) this.scheduleRefresh(send, live);
    } catch (err) {
      const e = err as SwitchboardError;
      // A gateway without the refresh frame answers BAD_REQUEST: from then on the
      // connection is renewed by reconnecting with a new token when the server closes it (4011).
      if (e.code === 'BAD_REQUEST') this.#refreshSupported = false;
      else if (e.code !== 'CLOSED') this.onError(new SwitchboardError(e.code, `token refresh refused: ${e.message}`, e.details));
    }
  }
}
