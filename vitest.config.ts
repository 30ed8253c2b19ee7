import { availableParallelism } from 'node:os';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * The real-model file (llama.cpp perplexity on both backends, ~14 min of the suite on a 2-core
 * machine, most of it WASM) starts first, so every other file runs beside it on the other worker
 * instead of after it. The default order (cached durations, else file size) cannot know that on
 * a clean clone.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const longest = (f: TestSpecification) => f.moduleId.endsWith('/real-models.test.ts');
    return [...sorted.filter(longest), ...sorted.filter((f) => !longest(f))];
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Native addons and WASM instances are per process; forks keep them isolated.
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: one on a 2-core machine, where the
    // real-model file then runs alone and everything else waits for it. Two at least, so the
    // order above has the other worker it assumes.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    sequence: { sequencer: LongestFirst },
  },
});
