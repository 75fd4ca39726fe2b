import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          environment: 'node',
          include: ['test/protocol/**/*.test.ts', 'test/broker/**/*.test.ts', 'test/conformance/memory.test.ts', 'test/architecture.test.ts'],
        },
      },
    ],
  },
});
