import { byTestId } from './dom.js';
import { isEnvelope, type PlaygroundInfo } from './types.js';

export interface Session {
  name: string;
  token: string;
}

const KEY = 'sockey.playground.session';

/** The saved session: localStorage when "remember me" was ticked, else this tab's sessionStorage. */
export function loadSession(): Session | undefined {
  for (const store of [sessionStorage, localStorage]) {
    try {
      const s = JSON.parse(store.getItem(KEY) ?? 'null') as Session | null;
      if (s && typeof s.name === 'string' && typeof s.token === 'string') return s;
    } catch {
      // a damaged entry is the same as none
    }
  }
  return undefined;
}

function saveSession(s: Session | undefined, persistent: boolean): void {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
  if (s) (persistent ? localStorage : sessionStorage).setItem(KEY, JSON.stringify(s));
}

type Send = (event: string, payload: unknown, withAck: boolean) => Promise<unknown>;

/**
 * Sign-up, log-in and log-out through the built-in `auth` route, and who is
 * signed in. The session is also sent in the socket.io handshake, so a
 * reload of the page (or a reconnect) stays signed in.
 */
export class AuthPanel {
  session: Session | undefined = loadSession();
  private persistent = localStorage.getItem(KEY) !== null;
  private info: PlaygroundInfo['auth'] = { enabled: true, event: 'auth', registerEmail: true };

  private readonly panel = byTestId('auth');
  private readonly form = byTestId<HTMLFormElement>('auth-form');
  private readonly signedIn = byTestId('signed-in');
  private readonly whoami = byTestId('whoami');
  private readonly error = byTestId('auth-error');
  private readonly name = byTestId<HTMLInputElement>('auth-name');
  private readonly password = byTestId<HTMLInputElement>('auth-password');
  private readonly email = byTestId<HTMLInputElement>('auth-email');
  private readonly remember = byTestId<HTMLInputElement>('auth-remember');

  constructor(private readonly send: Send) {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.signIn('login');
    });
    byTestId('register').addEventListener('click', () => void this.signIn('register'));
    byTestId('logout').addEventListener('click', () => void this.logout());
    this.render();
  }

  /** Credentials for the handshake (read at every (re)connect). */
  handshake(): Record<string, unknown> {
    return this.session ? { name: this.session.name, token: this.session.token } : {};
  }

  configure(info: PlaygroundInfo['auth']): void {
    this.info = info;
    this.panel.hidden = !info.enabled;
    this.email.hidden = !info.registerEmail;
  }

  /** Whether an event is the auth route's `_data` / `_error` push (the timeline shows them either way). */
  isAuthEvent(event: string): boolean {
    return event.startsWith(this.info.event + '_') || event === this.info.event;
  }

  /**
   * Follows the auth route whoever used it: this panel, the editor, or a
   * push (a renewed token on `auth_data`).
   */
  observe(event: string, payload: unknown, envelope: unknown): void {
    if (!isEnvelope(envelope) || !envelope.ok) return;
    const res = envelope.res as { name?: unknown; token?: unknown; loggedOut?: unknown } | null;
    const type = (payload as { type?: unknown } | undefined)?.type;
    if ((event === this.info.event && type === 'logout') || res?.loggedOut === true) this.adopt(undefined);
    else if (res && typeof res.name === 'string' && typeof res.token === 'string') {
      const persistent = (payload as { user?: { persistent?: unknown } } | undefined)?.user?.persistent;
      if (persistent !== undefined) this.persistent = persistent === true;
      this.adopt({ name: res.name, token: res.token });
    }
  }

  /** Checks the saved session is still good (after a connect, or an `auth_error` push). */
  async verify(): Promise<void> {
    const s = this.session;
    if (!s) return;
    const env = await this.send(this.info.event, { type: 'check', user: { name: s.name, key: s.token } }, true);
    if (isEnvelope(env) && env.ok && (env.res as { valid?: unknown }).valid === false && this.session === s) this.adopt(undefined);
  }

  private adopt(s: Session | undefined): void {
    this.session = s;
    saveSession(s, this.persistent);
    this.render();
  }

  private async signIn(type: 'login' | 'register'): Promise<void> {
    const user: Record<string, unknown> = { name: this.name.value.trim(), password: this.password.value };
    if (type === 'register' && this.info.registerEmail) user.email = this.email.value.trim();
    if (this.remember.checked) user.persistent = true;
    this.persistent = this.remember.checked;
    this.showError('');
    const env = await this.send(this.info.event, { type, user }, true);
    if (isEnvelope(env) && !env.ok) this.showError(env.err);
    else if (isEnvelope(env)) this.password.value = '';
    else this.showError('No answer from the server.');
  }

  private async logout(): Promise<void> {
    await this.send(this.info.event, { type: 'logout' }, true);
    this.adopt(undefined);
  }

  private showError(text: string): void {
    this.error.textContent = text;
    this.error.hidden = text === '';
  }

  private render(): void {
    const s = this.session;
    this.whoami.textContent = s ? s.name : 'guest';
    this.whoami.classList.toggle('guest', !s);
    this.form.hidden = Boolean(s);
    this.signedIn.hidden = !s;
    if (s) this.showError('');
  }
}
