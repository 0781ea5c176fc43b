/**
 * Monitoring events. Each is emitted on the pool (an EventEmitter) and published on a
 * `diagnostics_channel` of the same meaning, so APM tools can subscribe without a pool handle.
 * @module
 */
import * as diagnostics from 'node:diagnostics_channel';
import type { TorchpoolError } from './errors.js';

/** An engine was taken out of rotation after repeated device errors. */
export interface EngineUnhealthyEvent {
  engine: number;
  device: string;
  instance: number;
  /** The last of the device errors. */
  error: TorchpoolError;
}

/** infer() was refused with QUEUE_FULL. */
export interface QueueFullEvent {
  queueDepth: number;
  maxQueueSize: number;
}

/** The events of {@link InferencePool} with their listener arguments. */
export interface InferencePoolEvents {
  engineUnhealthy: [EngineUnhealthyEvent];
  queueFull: [QueueFullEvent];
}

/** `diagnostics_channel` names; messages are the event plus `{ pool }`. */
export const channels = {
  engineUnhealthy: 'torchpool:engine-unhealthy',
  queueFull: 'torchpool:queue-full',
} as const;

const published = {
  engineUnhealthy: diagnostics.channel(channels.engineUnhealthy),
  queueFull: diagnostics.channel(channels.queueFull),
};

/** Publishes on the event's channel when someone listens there. */
export function publish<E extends keyof InferencePoolEvents>(event: E, pool: object, details: InferencePoolEvents[E][0]): void {
  const channel = published[event];
  if (channel.hasSubscribers) channel.publish({ pool, ...details });
}
