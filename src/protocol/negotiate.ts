import { GatewayError } from '../errors.js';
import type { Format } from './frames.js';

/**
 * Picks the wire format from `Sec-WebSocket-Protocol` (first supported entry wins,
 * and is echoed back as the browser requires) or else `?format=`; JSON by default.
 * A client that offers only protocols we do not speak is refused.
 * @throws GatewayError('BAD_REQUEST')
 */
export function negotiateFormat(protocolHeader: string, formatQuery: string): { format: Format; protocol: string } {
  if (protocolHeader !== '') {
    const offered = protocolHeader.split(',').map((p) => p.trim().toLowerCase());
    const chosen = offered.find((p): p is Format => p === 'json' || p === 'msgpack');
    if (chosen === undefined) throw new GatewayError('BAD_REQUEST', `unsupported subprotocol; offer msgpack or json`);
    return { format: chosen, protocol: chosen };
  }
  if (formatQuery === '' || formatQuery === 'json') return { format: 'json', protocol: '' };
  if (formatQuery === 'msgpack') return { format: 'msgpack', protocol: '' };
  throw new GatewayError('BAD_REQUEST', `format must be msgpack or json`);
}
