/** Input validation beyond GraphQL's types: bounds, formats, and errors that name the field. */
import { z } from 'zod';
import { CUSTOMER_TIERS, MAX_DURATION_SECONDS, workloadRequestSchema } from '../domain/workload/request.ts';
import { ROLES } from '../domain/access/keys.ts';
import { formatUsd, parseUsd } from '../domain/money.ts';
import { MAX_GRANTED } from '../domain/customer/customer.ts';
import { isStorableText, STORABLE_TEXT_MESSAGE } from '../domain/text.ts';
import { HcpError } from '../infra/errors.ts';

/** Free text of at most `max` characters that the stores can keep as given. */
/**
 * Control characters (C0, DEL, C1) and bidirectional overrides and isolates: text that would
 * drive a terminal or make an operator's view read other than it is stored.
 */
const UNSHOWABLE = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;
/** At least one character that shows: not only spaces, zero-width or other format characters. */
const VISIBLE = /[^\p{Z}\p{Cf}\s]/u;

/** Text a person wrote for people to read (a name, a label, a reason). */
export const freeText = (max: number) =>
  z
    .string()
    .max(max)
    .refine(isStorableText, STORABLE_TEXT_MESSAGE)
    .refine((s) => !UNSHOWABLE.test(s), 'must not hold control characters or bidirectional overrides');

/** Free text that must say something. */
export const nonBlankText = (max: number) => freeText(max).pipe(z.string().trim().refine((s) => VISIBLE.test(s), 'must hold a visible character'));

export class InputError extends HcpError {
  readonly type = 'input_error' as const;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'InputError';
  }
}

/** Parses or throws an InputError naming the first bad field, with `prefix` before its path. */
export const parseInput = <T>(schema: z.ZodType<T>, value: unknown, prefix = ''): T => {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  // an unknown field is named itself, not its parent object
  const unknown = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const path = [prefix, ...issue.path.map(String), ...unknown.slice(0, 1)].filter(Boolean).join('.');
  const message = unknown.length > 0 ? `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}` : issue.message;
  throw new InputError(path || 'input', message);
};

export const idSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'letters, digits and _ . : - only');

/** An optional id argument: absent (or null) is undefined, otherwise it must be a valid id. */
export const optionalId = (v: unknown, field: string) => (v == null ? undefined : parseInput(idSchema, v, field));

export const commandIdSchema = z
  .string()
  .min(8)
  .max(128)
  // no '/': a caller's ids live under api/ (commands/context.ts callerCommandId), apart from the platform's own
  .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : - only');

const hoursToSeconds = (field: string, max: number) =>
  z
    .number()
    .positive()
    .max(max / 3600)
    .transform((h, ctx) => {
      const seconds = Math.round(h * 3600);
      if (seconds < 60) ctx.addIssue({ code: 'custom', message: `${field} must be at least one minute (${(60 / 3600).toFixed(4)} h)` });
      return seconds;
    });

export const registerCustomerInput = z.strictObject({
  name: nonBlankText(200),
  tier: z.enum(CUSTOMER_TIERS).default('standard'),
  customerId: idSchema.optional(),
});

export const grantQuotaInput = z.strictObject({
  customerId: idSchema,
  gpuHours: z.number().min(0).max(10_000_000),
  budgetUsd: z
    .string()
    .max(24)
    .refine((s) => parseUsd(s) !== undefined, 'a decimal USD amount with at most 6 decimals, e.g. "1500.00"')
    .refine((s) => parseUsd(s)! <= MAX_GRANTED.budgetMicroUsd, `at most ${formatUsd(MAX_GRANTED.budgetMicroUsd)} USD per account`),
});

export const issueApiKeyInput = z.strictObject({
  role: z.enum(ROLES),
  customerId: idSchema.optional(),
  label: freeText(100).pipe(z.string().trim()).default(''),
});

/** The GraphQL submit input, in camelCase with hours; mapped to the domain's request. */
export const submitWorkloadInput = z
  .strictObject({
    type: workloadRequestSchema.shape.type,
    model: workloadRequestSchema.shape.model,
    gpuType: workloadRequestSchema.shape.gpuType,
    gpuCount: workloadRequestSchema.shape.gpuCount.default(1),
    maxLatencyMs: workloadRequestSchema.shape.maxLatencyMs,
    durationHours: hoursToSeconds('durationHours', MAX_DURATION_SECONDS),
    customerId: idSchema.optional(),
  })
  .transform(({ durationHours, customerId, ...rest }) => ({
    customerId,
    request: workloadRequestSchema.parse({ ...rest, durationSeconds: durationHours }),
  }));

/** The seed's REST body (snake_case), e.g. {"type":"ai_inference_realtime","model":"llama-3-70b","gpu_type":"H100","max_latency_ms":50,"duration_hours":2}. */
export const restSubmitBody = z
  .strictObject({
    type: workloadRequestSchema.shape.type,
    model: workloadRequestSchema.shape.model,
    gpu_type: workloadRequestSchema.shape.gpuType,
    gpu_count: workloadRequestSchema.shape.gpuCount.default(1),
    max_latency_ms: workloadRequestSchema.shape.maxLatencyMs,
    duration_hours: hoursToSeconds('duration_hours', MAX_DURATION_SECONDS),
    customer_id: idSchema.optional(),
  })
  .transform((b) => ({
    customerId: b.customer_id,
    request: workloadRequestSchema.parse({
      type: b.type,
      model: b.model,
      gpuType: b.gpu_type,
      gpuCount: b.gpu_count,
      maxLatencyMs: b.max_latency_ms,
      durationSeconds: b.duration_hours,
    }),
  }));
