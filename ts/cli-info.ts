import type { Inspection } from './inspect.js';
import { formatBytes, formatCount, table } from './format.js';

function show(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) {
    const distinct = [...new Set(v)];
    return distinct.length === 1 ? String(distinct[0]) : `per layer: ${v.join(',')}`;
  }
  return String(v);
}

/** The readable summary `llmplayer info` prints. */
export function formatInspection(file: string, info: Inspection, withTensors: boolean): string {
  const lines: string[] = [];
  const field = (k: string, v: unknown) => lines.push(`${(k + ':').padEnd(18)} ${show(v)}`);
  field('file', file);
  field('size', `${formatBytes(info.fileBytes)} (GGUF v${info.ggufVersion}, ${info.tensorCount} tensors)`);
  field('backend', info.backend);
  field('architecture', info.architecture);
  field('name', info.name);
  field('parameters', info.tensorCount ? formatCount(info.parameterCount) : '-');
  field('file type', info.fileType ? (info.fileType.name ?? `unknown (${info.fileType.id})`) : null);
  field('context length', info.contextLength);
  field('embedding length', info.embeddingLength);
  field('layers', info.layers);
  field('heads', info.heads);
  field('kv heads', info.headsKv);
  field('feed-forward', info.feedForwardLength);
  if (info.expertCount) field('experts', `${info.expertUsedCount ?? '?'} of ${info.expertCount} used`);
  field('vocabulary', info.vocabSize);
  if (info.kvBytesPerToken) {
    field('kv cache', Object.entries(info.kvBytesPerToken).map(([t, b]) => `${t} ${formatBytes(b)}`).join(', ') + ' per token');
  }
  for (const k of info.kvLayers ?? []) {
    if (k.kind !== 'window' || info.kvLayers!.length < 2) continue;
    // Windowed layers stop growing: say which share of the per-token figure does.
    const f32 = k.bytesPerToken.f32 ?? k.bytesPerToken.f16 ?? 0;
    field('  of which', `${formatBytes(f32)} (f32) in ${k.layers} sliding-window layers (window ${k.window}), held for at most ${k.maxPositions} positions`);
  }
  if (info.stateBytesPerSequence) field('recurrent state', `${formatBytes(info.stateBytesPerSequence)} per sequence (f32, any context length)`);
  if (info.offload) field('gpu offload', `--gpu-layers all: ${info.offload.layers} layers${info.offload.output ? ' + output' : ''}, ${info.offload.matrices} matrices, ${formatBytes(info.offload.bytes)} on the device`);
  field('tokenizer', info.tokenizerModel ? `${info.tokenizerModel}${info.tokenizerPre ? ` (pre: ${info.tokenizerPre})` : ''}` : null);
  field('chat template', info.chatTemplate.fallback ? `none in file; fallback: ${info.chatTemplate.name}` : 'yes (from the file)');
  if (info.quantMix.length) {
    lines.push('', 'quantization mix:');
    const total = info.tensorBytes || 1;
    const rows = [['type', 'tensors', 'size', 'share']];
    for (const q of info.quantMix) {
      rows.push([q.type, String(q.tensors), formatBytes(q.bytes), `${((100 * q.bytes) / total).toFixed(1)}%`]);
    }
    lines.push(table(rows).replace(/^/gm, '  '));
  }
  if (withTensors && info.tensors?.length) {
    lines.push('', 'tensors:');
    const rows = [['name', 'type', 'shape', 'size']];
    for (const t of info.tensors) rows.push([t.name, t.type, `[${t.shape.join(', ')}]`, formatBytes(t.bytes)]);
    lines.push(table(rows).replace(/^/gm, '  '));
  }
  return lines.join('\n');
}
