// The broker's name and version as $SYS/broker/version and the API report them (package.json's).
export const brokerName = 'edge-mqtt';
export const brokerVersion = '0.1.0';
