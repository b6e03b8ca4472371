// What one control-plane run measures and how much (bench/control-plane.ts), apart so that its parts
// can take it without importing the runner that imports them.
export interface ControlPlanePlan {
  /** Rules already loaded when a change is made (the same for every firewall). */
  loadedRules: number;
  changeIterations: number;
  importEntries: number;
  /** Entries of the subscription whose 1 % update is timed (subscription-update.ts); 0: not measured. */
  subscriptionEntries: number;
  /** An import still running after this long is stopped and reported as partial. */
  importCapMs: number;
  usageWindowMs: number;
  connectsPerSecond: number;
  withOpenSnitch: boolean;
}
