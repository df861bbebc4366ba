import type { RequestEvent } from '@sveltejs/kit';
import type { AllocationMode } from '@dropspot/protocol';
import { api } from '../api.ts';
import { fromLocalInput } from '../zoned-time.ts';
import { formFailure, text } from './forms.ts';

/** What the drop form holds, as typed: sent back to refill the form. */
export interface DropFormValues {
  title: string;
  description: string;
  imageUrl: string;
  totalSlots: string;
  claimWindowStart: string;
  claimWindowEnd: string;
  timeZone: string;
  allocationMode: AllocationMode;
  holdMinutes: string;
  /** FCFS: shuffle the claims of the first N seconds; empty for plain arrival order. */
  openingShuffleSeconds: string;
  isActive: boolean;
  requirePow: boolean;
}

function read(form: FormData): DropFormValues {
  return {
    title: text(form, 'title'),
    description: text(form, 'description'),
    imageUrl: text(form, 'imageUrl'),
    totalSlots: text(form, 'totalSlots'),
    claimWindowStart: text(form, 'claimWindowStart'),
    claimWindowEnd: text(form, 'claimWindowEnd'),
    timeZone: text(form, 'timeZone'),
    allocationMode: text(form, 'allocationMode') as AllocationMode,
    holdMinutes: text(form, 'holdMinutes'),
    openingShuffleSeconds: text(form, 'openingShuffleSeconds'),
    // An unticked checkbox is not sent at all.
    isActive: form.has('isActive'),
    requirePow: form.has('requirePow'),
  };
}

/** The request body; the API's schema judges it and names the fields it refuses. */
function body(values: DropFormValues) {
  return {
    title: values.title,
    description: values.description,
    imageUrl: values.imageUrl.trim() === '' ? null : values.imageUrl.trim(),
    totalSlots: Number(values.totalSlots),
    claimWindowStart: fromLocalInput(values.claimWindowStart, values.timeZone),
    claimWindowEnd: fromLocalInput(values.claimWindowEnd, values.timeZone),
    isActive: values.isActive,
    allocationMode: values.allocationMode,
    holdSeconds: Math.round(Number(values.holdMinutes) * 60),
    // Only an FCFS drop has a shuffled opening: the field is hidden (and ignored) for the other modes.
    openingShuffleSeconds: values.allocationMode === 'FCFS' && values.openingShuffleSeconds.trim() !== '' ? Number(values.openingShuffleSeconds) : null,
    requirePow: values.requirePow,
  };
}

/** Creates (POST) or updates (PATCH) a drop from the drop form: the drop, or the refusal to show. */
export async function submitDropForm<T>({ request, fetch }: RequestEvent, method: 'POST' | 'PATCH', path: string) {
  const values = read(await request.formData());
  try {
    return { ok: true as const, values, drop: await api<T>(path, { method, body: body(values), fetch }) };
  } catch (error) {
    return { ok: false as const, failure: formFailure(error, values) };
  }
}
