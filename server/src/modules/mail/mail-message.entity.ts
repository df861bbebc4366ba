import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

export const MAIL_TRANSPORTS = ['smtp', 'mailbox'] as const;

/**
 * A message that was delivered, one row per purpose (the unique key that makes a retried job
 * send nothing twice). Mail handed to SMTP keeps only who, what and when: its links are secrets.
 * The development mailbox (no SMTP_URL) keeps the whole message, for the admin's mailbox page.
 */
export const MailMessageSchema = defineEntity({
  name: 'MailMessage',
  tableName: 'mail_message',
  properties: {
    id: p.uuid().primary(),
    purpose: p.string().length(200).unique(),
    recipient: p.string().length(254),
    subject: p.string().length(200),
    text: p.text().nullable(),
    html: p.text().nullable(),
    transport: p.enum(MAIL_TRANSPORTS),
    sentAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()).index(),
  },
});

export type MailMessage = InferEntity<typeof MailMessageSchema>;
