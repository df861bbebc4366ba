import { AuditEntrySchema } from '../modules/audit/audit.entity.ts';
import { ApiTokenSchema } from '../modules/events/api-token.entity.ts';
import { OutboxEventSchema } from '../modules/events/outbox-event.entity.ts';
import { ClaimSchema } from '../modules/claims/claim.entity.ts';
import { DropSchema } from '../modules/drops/drop.entity.ts';
import { IdempotencyKeySchema } from '../modules/idempotency/idempotency.entity.ts';
import { SessionSchema } from '../modules/auth/session.entity.ts';
import { UserSchema } from '../modules/users/user.entity.ts';
import { UserActionSchema } from '../modules/waitlist/user-action.entity.ts';
import { WaitlistSchema } from '../modules/waitlist/waitlist.entity.ts';
import { FirstJoinSchema } from '../modules/waitlist/first-join.entity.ts';
import { ReservationSchema } from '../modules/reservations/reservation.entity.ts';
import { EmailTokenSchema } from '../modules/auth/email-token.entity.ts';
import { MailMessageSchema } from '../modules/mail/mail-message.entity.ts';
import { SpentChallengeSchema } from '../modules/pow/spent-challenge.entity.ts';
import { WebhookEndpointSchema } from '../modules/webhooks/webhook-endpoint.entity.ts';
import { WebhookDeliverySchema } from '../modules/webhooks/webhook-delivery.entity.ts';
import { OpeningEntrySchema } from '../modules/claims/opening-entry.entity.ts';
import { NotificationCursorSchema, NotificationPreferenceSchema, NotificationSchema, PushSubscriptionSchema } from '../modules/notifications/notification.entity.ts';

export const entities = [
  UserSchema,
  DropSchema,
  WaitlistSchema,
  ClaimSchema,
  SessionSchema,
  IdempotencyKeySchema,
  UserActionSchema,
  OutboxEventSchema,
  ApiTokenSchema,
  AuditEntrySchema,
  ReservationSchema,
  FirstJoinSchema,
  EmailTokenSchema,
  MailMessageSchema,
  SpentChallengeSchema,
  WebhookEndpointSchema,
  WebhookDeliverySchema,
  OpeningEntrySchema,
  NotificationSchema,
  NotificationPreferenceSchema,
  PushSubscriptionSchema,
  NotificationCursorSchema,
];
