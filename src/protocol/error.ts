// Errors carry the reason code they become on the wire (mochi's Code-as-error).
// The message is for logs; the broker's connection turns the code into CONNACK or DISCONNECT.
import { reasonCodeName } from './reason-code.ts';

export class MqttError extends Error {
  readonly reasonCode: number;

  constructor(reasonCode: number, message?: string) {
    super(message ?? reasonCodeName(reasonCode));
    this.name = 'MqttError';
    this.reasonCode = reasonCode;
  }
}
