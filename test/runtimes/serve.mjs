// Started by test/runtimes.test.ts under Bun or Deno: serves a GGUF with that runtime's entry
// from dist/server/, prints `LISTENING <url>` on stdout, and stops when stdin closes.
//   bun test/runtimes/serve.mjs <bun|deno> <model.gguf> <native|wasm>
//   deno run -A test/runtimes/serve.mjs …
const [runtime, modelPath, backend] = (globalThis.Deno ? Deno.args : process.argv.slice(2));
const { loadModel } = await import('../../dist/index.js');
const { serve } = await import(`../../dist/server/${runtime}.js`);
const model = await loadModel(modelPath, { backend, threads: 1 });
const server = await serve({ models: { id: 'stories', model }, port: 0 });
console.log(`LISTENING ${server.url} ${model.backend}`);
// Stop when the parent closes our stdin (or dies).
if (globalThis.Deno) {
  for await (const _ of Deno.stdin.readable);
} else {
  process.stdin.resume();
  await new Promise((r) => process.stdin.on('end', r).on('close', r));
}
await server.close();
model.dispose();
