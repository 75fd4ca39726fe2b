// The reference AttachmentStore (a session object's live connections by client id): one map.
import type { Attachment, AttachmentStore } from '../roles/session-owner.ts';

export class MemoryAttachments implements AttachmentStore {
  private readonly attachments = new Map<string, Attachment>();

  get(clientId: string): Attachment | undefined {
    const a = this.attachments.get(clientId);
    return a && { ...a };
  }

  set(clientId: string, attachment: Attachment): void {
    this.attachments.set(clientId, { ...attachment });
  }

  delete(clientId: string): void {
    this.attachments.delete(clientId);
  }

  /** Every client id's attachment (tests compare them with the sessions held). */
  list(): Array<[string, Attachment]> {
    return [...this.attachments].map(([clientId, a]) => [clientId, { ...a }]);
  }

  counted(): number {
    return [...this.attachments.values()].filter((a) => a.counted).length;
  }
}
