/**
 * torchpool: run TorchScript models on every GPU (or the CPU) from Node.js, off the event loop.
 * @packageDocumentation
 */
export { InferencePool } from './pool.js';
export type { ModelSignature, CloseOptions, InferBatchOptions, SharedPoolToken } from './pool.js';
export type { InferencePoolOptions, ModelFormat } from './options.js';
export type { InferOptions } from './request-control.js';
export type { OutputTargets } from './output-targets.js';
export type { ProfileOptions, ProfileResult, ProfiledKernel, ProfiledOp } from './profile.js';
export type { ExecutionOptions, Precision, OutputDtype, WarmupInput, WarmupTensor, PaddedInputOptions, TorchScriptOptions } from './execution.js';
export type {
  PoolStats, EngineStats, ThreadStats, CudaEngineStats, LatencyStats, LatencyPercentiles, BatchingSettings, ProcessSettings,
  BucketStats, FirstShapeStats,
} from './stats.js';
export type { MapOptions, MapProgress, MapResult } from './batch-jobs.js';
export { channels } from './events.js';
export type { InferencePoolEvents, EngineUnhealthyEvent, QueueFullEvent } from './events.js';
export { listDevices } from './devices.js';
export type { DeviceInfo, DeviceSelection } from './devices.js';
export { TorchpoolError, ErrorCodes } from './errors.js';
export type { TorchpoolErrorCode } from './errors.js';
export { DTYPES } from './tensor.js';
export { tensor } from './validate.js';
export type { Dtype, DtypeArrays, Tensor, TensorData, OutputTensor, InferInputs, InferOutput, InferValue } from './tensor.js';
export type { PinnedTensor } from './pinned-input.js';
export { builtinModelNames, builtinModelPath, defaultCacheDir } from './models.js';
export type { BuiltinModelOptions } from './models.js';
export { buildInfo } from './info.js';
export type { BuildInfo } from './binding.js';
