// Applying rules: what changed goes to the kernel either in place (a diff of the active maps) or as
// fresh maps swapped in at once. Owns the compiler and what the last apply installed; the kernel
// side is the addon's firewall, reached through RuleMaps.
import type { ApplyStats, KernelDefaults, CompilableRule } from '../api.js';
import { RuleCompiler } from './compiler.js';
import { ENTRY_MAPS, type EntryMap } from './layout.js';
import { capacityFor, planDiff, swapReason, type Capacities, type DiffStep } from './rule-diff.js';

export type { DiffStep };
import type { CompiledRules, GrowingImage, MapImage } from './types.js';
import { validateDefaults, validateRule } from './validation.js';

/** The kernel's rule maps as an apply drives them (implemented by the addon's firewall). */
export interface RuleMaps {
  /**
   * Starts filling the fresh inner map of `map` for the next swap on a native thread, while the
   * rest compiles. A growing image (`ready` < count) is handed over again as it grows.
   */
  prepareMap(map: EntryMap | 'v6Buckets', image: GrowingImage & { capacity: number }): void;
  /** Fills fresh maps (taking prepared ones), installs them in the inactive slot, flips the generation. */
  swap(
    compiled: CompiledRules,
    globalDefault: number,
  ): Promise<{ generation: number; entriesWritten: number; fillMs: Record<string, number> }>;
  /** Runs the steps in order on the active slot's maps, then bumps the generation (same slot). */
  applyDiff(steps: DiffStep[]): Promise<{ generation: number }>;
}

/** Changes at least this large yield to the event loop between updating the compiler and compiling. */
const YIELD_MIN = 65536;

/** Inner maps sized with headroom for later diffs (see capacityFor). */
const CAPACITY_MAPS = [...ENTRY_MAPS, 'v6Buckets', 'sets'] as const;

/** The defaults as a string that is equal exactly when the defaults are. */
function defaultsKey(defaults: KernelDefaults): string {
  return `${defaults.global}|${[...defaults.perApp]
    .map(([app, action]) => `${app}:${action}`)
    .sort()
    .join(',')}`;
}

export class RuleApplier {
  /** The rules asked for, compiled; kept between applies so a change compiles only what it touches. */
  private readonly compiler = new RuleCompiler();
  /**
   * What this applier installed by its last swap and the diffs since: capacities of the inner
   * maps and the defaults. null = unknown (the next apply swaps).
   */
  private installed: { capacities: Capacities; defaults: string } | null = null;
  /** Applies run one at a time, in call order: each starts from the compiler state the last one left. */
  private tail: Promise<unknown> = Promise.resolve();
  constructor(private readonly maps: RuleMaps) {}

  /**
   * Replaces the whole ruleset: works out which rules (by object identity) left and came since the
   * last apply, then applies that change (see changeRules).
   */
  setRules(rules: readonly CompilableRule[], defaults: KernelDefaults): Promise<ApplyStats> {
    return this.serially(() => {
      if (this.compiler.ruleCount === 0) return this.change({ removed: [], added: rules }, defaults, 'rules');
      rules.forEach((rule, index) => validateRule(rule, index, 'rules')); // errors name the place in `rules`
      const wanted = new Set(rules);
      const removed = [...this.compiler.rules()].filter((rule) => !wanted.has(rule));
      const added = rules.filter((rule) => !this.compiler.has(rule));
      return this.change({ removed, added }, defaults);
    });
  }

  /**
   * Takes out `removed` (objects given before) and takes in `added`, at a cost that follows the
   * change, not the ruleset: the compiler recompiles only the kernel keys the change touches, and
   * they go in place (mode 'diff', see rule-diff.ts). The first apply, a defaults change, a change
   * across scopes or one that overflows the maps fills fresh maps and flips the generation (mode
   * 'swap'; overflow grows them). On failure nothing of the change is kept: the compiler is put
   * back and the next apply swaps, so the kernel again matches what was asked before.
   */
  changeRules(
    change: { removed: readonly CompilableRule[]; added: readonly CompilableRule[] },
    defaults: KernelDefaults,
  ): Promise<ApplyStats> {
    return this.serially(() => this.change(change, defaults));
  }

  private serially(apply: () => Promise<ApplyStats>): Promise<ApplyStats> {
    const result = this.tail.then(apply, apply);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async change(
    change: { removed: readonly CompilableRule[]; added: readonly CompilableRule[] },
    defaults: KernelDefaults,
    addedName = 'added',
  ): Promise<ApplyStats> {
    const started = performance.now();
    validateDefaults(defaults);
    this.compiler.update(change.removed, change.added, addedName); // throws on bad input, before any change
    try {
      // A bulk change is long work on the JS thread: let the event loop run between its two halves.
      if (this.compiler.needsFullCompile && change.added.length + change.removed.length >= YIELD_MIN)
        await new Promise<void>((resolve) => setImmediate(resolve));
      return await this.applyCompiled(defaults, started);
    } catch (error) {
      this.installed = null;
      this.compiler.update(change.added, change.removed);
      throw error;
    }
  }

  private async applyCompiled(defaults: KernelDefaults, started: number): Promise<ApplyStats> {
    const key = defaultsKey(defaults);
    let growing = false;
    if (this.installed && this.installed.defaults === key && !this.compiler.needsFullCompile) {
      const installed = this.installed;
      const before = ENTRY_MAPS.reduce((n, map) => n + this.compiler.entryCounts()[map], 0);
      const change = this.compiler.compileChange();
      const compileMs = performance.now() - started;
      const reason = swapReason(change, installed.capacities, before);
      if (!reason) {
        const plan = planDiff(change);
        this.installed = null; // unknown if a step fails half-way
        const result = await this.maps.applyDiff(plan.steps);
        this.installed = installed;
        return {
          mode: 'diff',
          entriesWritten: plan.written,
          entriesDeleted: plan.deleted,
          generation: result.generation,
          elapsedMs: performance.now() - started,
          compileMs,
          clauseSets: change.sets.ids.length / 4,
          warnings: change.warnings,
        };
      }
      growing = reason.endsWith('full');
    }
    // Each entry map starts filling (on a native thread) while its image is compiled.
    const compiled = this.compiler.compileAll(defaults, (map, image) =>
      this.maps.prepareMap(map, { ...image, capacity: capacityFor(map, image.count, growing) }),
    );
    const compileMs = performance.now() - started;
    const capacities = {} as Capacities;
    const withCapacity: CompiledRules = { ...compiled };
    for (const map of CAPACITY_MAPS) {
      capacities[map] = capacityFor(map, compiled[map].count, growing);
      withCapacity[map] = { ...compiled[map], capacity: capacities[map] } as MapImage;
    }
    this.installed = null; // unknown until the swap succeeded
    const result = await this.maps.swap(withCapacity, compiled.globalDefault);
    this.installed = { capacities, defaults: key };
    return {
      mode: 'swap',
      entriesWritten: result.entriesWritten,
      entriesDeleted: 0,
      generation: result.generation,
      elapsedMs: performance.now() - started,
      compileMs,
      clauseSets: compiled.sets.count,
      warnings: compiled.warnings,
      fillCpuMs: result.fillMs,
    };
  }
}
