// Aedes over WebSocket in a process of its own, so that its CPU and memory are its own:
// `node bench/lib/aedes-server.ts <port>` prints "listening" when ready.
import { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const aedes = await Aedes.createBroker();
const wss = new WebSocketServer({ host: '127.0.0.1', port });
wss.on('connection', (ws) => aedes.handle(createWebSocketStream(ws) as never));
wss.on('listening', () => console.log('listening'));
