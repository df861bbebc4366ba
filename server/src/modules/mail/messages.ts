import type { OutgoingMail } from './mailer.ts';

const PRODUCT = 'DropSpot';

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * A short message in plain text and HTML: one sentence, the link, why it came. No images, no
 * remote resources, no tracking parameters: nothing reports back when it is opened.
 */
function linkMail(to: string, subject: string, intro: string, action: string, link: string, outro: string): OutgoingMail {
  const text = `${intro}\n\n${action}: ${link}\n\n${outro}\n\n— ${PRODUCT}\n`;
  const html = `<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">
<p>${escapeHtml(intro)}</p>
<p><a href="${escapeHtml(link)}">${escapeHtml(action)}</a></p>
<p style="font-size: 0.9em">${escapeHtml(outro)}<br>If the button does not work, copy this address: ${escapeHtml(link)}</p>
<p>— ${PRODUCT}</p>
</body></html>`;
  return { to, subject: `${PRODUCT}: ${subject}`, text, html };
}

export function verificationMail(to: string, link: string): OutgoingMail {
  return linkMail(
    to,
    'confirm your email address',
    `Confirm that ${to} is your address to join and claim drops on ${PRODUCT}.`,
    'Confirm my address',
    link,
    'The link works once, for 24 hours. If you did not sign up or change your address, ignore this message.',
  );
}

export function passwordResetMail(to: string, link: string): OutgoingMail {
  return linkMail(
    to,
    'reset your password',
    `Someone (hopefully you) asked to reset the password of the ${PRODUCT} account for ${to}.`,
    'Choose a new password',
    link,
    'The link works once, for 30 minutes, and signs out every device. If you did not ask, ignore this message: your password stays as it is.',
  );
}
