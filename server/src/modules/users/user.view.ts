import type { UserView } from '@dropspot/protocol';
import type { User } from './user.entity.ts';

export function toUserView(user: User): UserView {
  return { id: user.id, email: user.email, role: user.role, createdAt: user.createdAt.toISOString(), emailVerified: Boolean(user.emailVerifiedAt) };
}
