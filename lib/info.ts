/**
 * What torchpool was built against.
 * @module
 */
import { type BuildInfo, nativeBinding } from './binding.js';

/** The libtorch version and origin the addon was built with, and whether CUDA is compiled in. */
export function buildInfo(): BuildInfo {
  return nativeBinding().buildInfo();
}
