import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface TestSmtp {
  /** `smtp://127.0.0.1:<port>`, for SMTP_URL. */
  url: string;
  port: number;
  /** Every message accepted so far, parsed. */
  messages: ParsedMail[];
  /** Messages refused so far (answered with a temporary failure). */
  refused: number;
  /** The accepted messages sent to this address. */
  to(address: string): ParsedMail[];
  close(): Promise<void>;
}

/**
 * A real SMTP server on loopback (port 0 unless given) that parses and keeps every message it
 * accepts, after `delayMs` if given. `refuseFirst` answers the first n messages with 451 (a temporary failure), as a mail
 * server that is briefly unavailable would.
 */
export async function startSmtpServer(options: { refuseFirst?: number; port?: number; delayMs?: number } = {}): Promise<TestSmtp> {
  const state = { messages: [] as ParsedMail[], refused: 0 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          if (state.refused < (options.refuseFirst ?? 0)) {
            state.refused++;
            callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
            return;
          }
          // A slow mail server (`delayMs`): messages are accepted that much later.
          setTimeout(() => {
            state.messages.push(parsed);
            callback();
          }, options.delayMs ?? 0);
        })
        .catch(callback);
    },
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server.server, 'listening');
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    get messages() {
      return state.messages;
    },
    get refused() {
      return state.refused;
    },
    to: (address) => state.messages.filter((m) => [m.to].flat().some((t) => t?.value.some((v) => v.address?.toLowerCase() === address.toLowerCase()))),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The first https?:// link in a message's text part. */
export function linkIn(message: ParsedMail): URL {
  const match = /https?:\/\/\S+/.exec(message.text ?? '');
  if (!match) throw new Error(`no link in: ${message.text}`);
  return new URL(match[0]);
}
