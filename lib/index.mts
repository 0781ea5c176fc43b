// ESM entry: re-exports the CommonJS build, so ESM and CJS consumers share one instance
// (one native addon, one TorchpoolError class for instanceof).
export {
  InferencePool,
  listDevices,
  TorchpoolError,
  ErrorCodes,
  tensor,
  DTYPES,
  builtinModelNames,
  builtinModelPath,
  defaultCacheDir,
  buildInfo,
  channels,
} from './index.js';
export type * from './index.js';
