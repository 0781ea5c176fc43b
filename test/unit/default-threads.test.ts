// Default intra-op threads of CPU engines: the cores shared among them, less what the CUDA
// engines of a mixed pool need to keep their GPU fed.
import { describe, expect, it } from 'vitest';
import { defaultThreadsPerEngine } from '../../dist/devices.js';

describe('defaultThreadsPerEngine', () => {
  it('shares the cores among CPU engines', () => {
    expect(defaultThreadsPerEngine(['cpu'], 16)).toBe(16);
    expect(defaultThreadsPerEngine(['cpu', 'cpu'], 16)).toBe(8);
    expect(defaultThreadsPerEngine(['cpu', 'cpu', 'cpu'], 2)).toBe(1);
  });

  it('leaves two cores per CUDA engine and one for the JS thread in a mixed pool', () => {
    expect(defaultThreadsPerEngine(['cuda:0', 'cpu'], 16)).toBe(13);
    expect(defaultThreadsPerEngine(['cuda:0', 'cuda:1', 'cpu', 'cpu'], 16)).toBe(5);
    expect(defaultThreadsPerEngine(['cuda:0', 'cpu'], 2)).toBe(1); // never below one
  });
});
