import { randomBytes, randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { ALLOCATION_MODES, DEFAULT_HOLD_SECONDS, type PriorityFormulaView } from '@dropspot/protocol';

export const DropSchema = defineEntity({
  name: 'Drop',
  tableName: 'drop',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    title: p.string().length(200),
    description: p.text().default(''),
    imageUrl: p.string().length(2048).nullable(),
    totalSlots: p.integer(),
    /**
     * Denormalized count of claims (ISSUED or USED). Changed only inside the claim transaction
     * by a conditional update; the CHECK below makes the database itself refuse an oversell.
     */
    claimed: p.integer().default(0),
    claimWindowStart: p.datetime().columnType('timestamptz'),
    claimWindowEnd: p.datetime().columnType('timestamptz'),
    isActive: p.boolean().default(true).index(),
    /**
     * How many times the window has moved (start or end changed): the calendar file's SEQUENCE,
     * so a calendar that imported an earlier version replaces it. Bumped by a trigger on every
     * update that changes either instant (`triggers` below).
     */
    windowSequence: p.integer().default(0),
    /** Set while an admin has paused the window; claims are refused until resumed. */
    pausedAt: p.datetime().columnType('timestamptz').nullable(),
    allocationMode: p.enum(ALLOCATION_MODES).default('FCFS'),
    /** PRIORITY: seconds a reservation is held before it passes on. */
    holdSeconds: p.integer().default(DEFAULT_HOLD_SECONDS),
    /** Joining needs a solved proof-of-work challenge. */
    requirePow: p.boolean().default(false),
    /**
     * FCFS: claims that arrive in the first N seconds after the opening are collected
     * (`opening_entry`) and served, when the interval ends, in draw-key order; null: arrival order.
     */
    openingShuffleSeconds: p.integer().nullable(),
    /** FCFS with a shuffled opening: set once, when the interval's claims were served; the order is revealed from then on. */
    openingSettledAt: p.datetime().columnType('timestamptz').nullable(),
    /** The free slots when the opening was served: its first `opening_slots` entries still on the waitlist got codes. */
    openingSlots: p.integer().nullable(),
    /**
     * PRIORITY: random per-drop secret. Its sha256 is published as the commitment before the window
     * opens; the secret itself only once the ranking is frozen (it keys the anonymized ids and tie-breaks).
     * Null only on drops created before PRIORITY existed; switching one to PRIORITY draws it.
     */
    rankingSecret: p.string().length(64).nullable().hidden().onCreate(() => randomBytes(32).toString('hex')),
    /** PRIORITY: set once, when the window opened and the ranking was frozen; joining is closed from then on. */
    rankingFrozenAt: p.datetime().columnType('timestamptz').nullable(),
    /** When the drop first became visible to users: the origin of the signup-latency score term. */
    publishedAt: p.datetime().columnType('timestamptz').nullable(),
    /**
     * The priority formula (seed, its inputs, base, coefficients) in force when the drop was
     * published: every join, the freeze, the ranking and the verifier use it, so a redeploy with
     * another seed cannot change a drop's scores or tie-breaks. Null only on drops published
     * before it was kept (the freeze then fixes the live one).
     */
    priorityFormula: p.json<PriorityFormulaView>().nullable(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()).index(),
    updatedAt: p
      .datetime()
      .columnType('timestamptz')
      .defaultRaw('now()')
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
  indexes: [{ name: 'drop_claim_window_idx', properties: ['claimWindowStart', 'claimWindowEnd'] }],
  triggers: [
    {
      // Every path that moves the window (the edit form, open-now, close-now, extend, raw SQL) counts alike.
      name: 'window_sequence',
      timing: 'before',
      events: ['update'],
      forEach: 'row',
      body: 'if new.claim_window_start is distinct from old.claim_window_start or new.claim_window_end is distinct from old.claim_window_end then new.window_sequence := old.window_sequence + 1; else new.window_sequence := old.window_sequence; end if; return new;',
    },
  ],
  checks: [
    { name: 'drop_total_slots_check', expression: 'total_slots > 0' },
    { name: 'drop_claimed_check', expression: 'claimed >= 0 and claimed <= total_slots' },
    { name: 'drop_window_check', expression: 'claim_window_start < claim_window_end' },
    { name: 'drop_hold_seconds_check', expression: 'hold_seconds > 0' },
    { name: 'drop_opening_shuffle_seconds_check', expression: "opening_shuffle_seconds is null or (opening_shuffle_seconds between 1 and 60 and allocation_mode = 'FCFS')" },
  ],
});

export type Drop = InferEntity<typeof DropSchema>;
