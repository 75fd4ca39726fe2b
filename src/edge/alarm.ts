// One alarm per object: set at the earliest of the deadlines an event left behind, no sooner than
// a second from now, and never pushed later while an earlier one is set.
const alarmResolution = 1_000;

export class Alarm {
  private at?: number;
  private readonly storage: DurableObjectStorage;
  /** Each setAlarm is billed as one row written (Durable Objects pricing): the meter counts it. */
  private readonly onSet: () => void;

  constructor(storage: DurableObjectStorage, onSet: () => void = () => {}) {
    this.storage = storage;
    this.onSet = onSet;
  }

  /** Reads the alarm left by an earlier run of the object. */
  async load(): Promise<void> {
    this.at = (await this.storage.getAlarm()) ?? undefined;
  }

  /** The alarm fired. */
  fired(): void {
    this.at = undefined;
  }

  async schedule(dues: Array<number | undefined>): Promise<void> {
    const due = Math.min(...dues.filter((d) => d !== undefined));
    if (due === Infinity) return;
    const at = Math.max(due, Date.now() + alarmResolution);
    if (this.at !== undefined && this.at <= at) return;
    this.at = at;
    this.onSet();
    await this.storage.setAlarm(at);
  }
}
