import QRCode from 'qrcode';
import type { NotificationKind, PushMessage } from '@dropspot/protocol';
import type { OutgoingMail } from '../mail/mailer.ts';

const PRODUCT = 'DropSpot';

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** An instant as people read it in a message that cannot know their time zone. */
const utc = (iso: string) => `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export interface MessageInput {
  kind: NotificationKind;
  dropTitle: string;
  dropUrl: string;
  rankingUrl: string;
  settingsUrl: string;
  detail: Record<string, unknown>;
  /** claim-confirmed: the code. */
  code?: string;
  /** window-opens-soon: when; reservation-*: the hold's end. */
  at?: string;
}

interface Words {
  title: string;
  lines: string[];
  action: string;
  url: string;
}

function words(input: MessageInput): Words {
  const { dropTitle: t, dropUrl, detail } = input;
  switch (input.kind) {
    case 'window-opens-soon':
      return { title: `${t} opens soon`, lines: [`The claim window of ${t} opens at ${utc(input.at!)}.`], action: 'Open the drop', url: dropUrl };
    case 'window-opened':
      return { title: `${t} is open`, lines: [`The claim window of ${t} is open now.`], action: 'Claim now', url: dropUrl };
    case 'reservation-granted':
      return { title: `Your turn: ${t}`, lines: [`A reservation for ${t} is yours. Claim it before ${utc(input.at!)}, or it passes to the next person.`], action: 'Claim it', url: dropUrl };
    case 'reservation-expiring':
      return { title: `Claim ${t} now`, lines: [`Your reservation for ${t} runs out at ${utc(input.at!)}. Claim it before then, or it passes to the next person.`], action: 'Claim it', url: dropUrl };
    case 'claim-confirmed':
      return { title: `Your code for ${t}`, lines: [`Your claim for ${t} is confirmed. Your code: ${input.code}`, 'Show it (or its QR code) when you redeem it. It works once.'], action: 'See your code', url: dropUrl };
    case 'draw-result':
      return detail.won
        ? { title: `You won the draw: ${t}`, lines: [`You were drawn #${String(detail.rank)} for ${t}. Claim before ${input.at ? utc(input.at) : 'your hold ends'}, or it passes on.`], action: 'Claim it', url: dropUrl }
        : {
            title: `Not this time: ${t}`,
            lines: [`You were drawn #${String(detail.rank)} for ${t}, after the slots. If a reservation passes down to you, you will be told.`],
            action: 'See the published draw',
            url: input.rankingUrl,
          };
  }
}

export function pushMessage(input: MessageInput, tag: string): PushMessage {
  const w = words(input);
  // The code stays out of push payloads: lock screens show them to anyone nearby.
  const body = input.kind === 'claim-confirmed' ? `Your claim for ${input.dropTitle} is confirmed: open it to see your code.` : w.lines[0]!;
  return { title: w.title, body, url: w.url, tag };
}

/**
 * The email: plain text and HTML, the link, why it came and where to turn it off. A confirmed
 * claim carries its code's QR code inside the message (an inline image, nothing fetched).
 */
export async function emailMessage(to: string, input: MessageInput): Promise<OutgoingMail> {
  const w = words(input);
  const why = `You get this because you are on the waitlist of ${input.dropTitle}. Change which notifications you get: ${input.settingsUrl}`;
  const text = `${w.lines.join('\n\n')}\n\n${w.action}: ${w.url}\n\n${why}\n\n— ${PRODUCT}\n`;
  const qr = input.code ? await QRCode.toBuffer(input.code, { type: 'png', margin: 2, width: 240, errorCorrectionLevel: 'M' }) : undefined;
  const html = `<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">
${w.lines.map((line) => `<p>${escapeHtml(line)}</p>`).join('\n')}
${qr ? `<p><img src="cid:claim-qr" width="240" height="240" alt="QR code of your code ${escapeHtml(input.code!)}"></p>` : ''}
<p><a href="${escapeHtml(w.url)}">${escapeHtml(w.action)}</a></p>
<p style="font-size: 0.9em">${escapeHtml(`You get this because you are on the waitlist of ${input.dropTitle}.`)} <a href="${escapeHtml(input.settingsUrl)}">Change which notifications you get</a>.</p>
<p>— ${PRODUCT}</p>
</body></html>`;
  return {
    to,
    subject: `${PRODUCT}: ${w.title}`,
    text,
    html,
    ...(qr ? { inline: [{ cid: 'claim-qr', filename: 'code.png', contentType: 'image/png', content: qr }] } : {}),
  };
}
