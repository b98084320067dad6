// Replies to a DNS query that break the format in the ways resolvers have been caught out by, for
// the test DNS server's `raw` behaviour: each echoes the query's id and question, so that a resolver
// takes it as the answer, then gives one answer record of the type asked.
const QR_AA_RA = 0x8480;

/** Header and question of a reply to `query`, answer count `answers`. */
function replyHead(query: Buffer, answers: number): Buffer {
  const head = Buffer.from(query);
  head.writeUInt16BE(QR_AA_RA | (query.readUInt16BE(2) & 0x0100), 2);
  head.writeUInt16BE(answers, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(0, 10);
  return head;
}

/** The type asked (the 2 bytes after the question name). */
function typeAsked(query: Buffer): number {
  return query.readUInt16BE(query.length - 4);
}

/** Type, class IN, TTL 60, and data for the type asked: an address for A, a text for TXT. */
function recordTail(type: number, text: string): Buffer {
  const data = type === 1 ? Buffer.from([127, 0, 0, 2]) : Buffer.concat([Buffer.from([text.length]), Buffer.from(text, 'latin1')]);
  const tail = Buffer.alloc(10);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  tail.writeUInt32BE(60, 4);
  tail.writeUInt16BE(data.length, 8);
  return Buffer.concat([tail, data]);
}

function pointer(to: number): Buffer {
  return Buffer.from([0xc0 | (to >> 8), to & 0xff]);
}

export const MALFORMED = {
  /** The answer's owner name is a compression pointer to itself. */
  compressionLoop(query: Buffer): Buffer {
    const head = replyHead(query, 1);
    return Buffer.concat([head, pointer(head.length), recordTail(typeAsked(query), 'loop')]);
  },
  /** The owner name points past the end of the packet. */
  pointerOutside(query: Buffer): Buffer {
    return Buffer.concat([replyHead(query, 1), pointer(0x3fff), recordTail(typeAsked(query), 'outside')]);
  },
  /** An owner name of 130 one-byte labels: 261 bytes, over the 255 a name may have. */
  longOwnerName(query: Buffer): Buffer {
    const labels = Buffer.concat([...Array.from({ length: 130 }, () => Buffer.from([1, 0x61])), Buffer.from([0])]);
    return Buffer.concat([replyHead(query, 1), labels, recordTail(typeAsked(query), 'long name')]);
  },
  /** A well-formed answer of over 512 bytes over UDP, without the TC flag. */
  over512(query: Buffer): Buffer {
    const head = replyHead(query, 3);
    const records = [0, 1, 2].map(() => Buffer.concat([pointer(12), recordTail(typeAsked(query), 'x'.repeat(200))]));
    return Buffer.concat([head, ...records]);
  },
  /** Header only, cut after 7 bytes. */
  truncatedHeader(query: Buffer): Buffer {
    return replyHead(query, 1).subarray(0, 7);
  },
  /** The record's data length runs past the end of the packet. */
  dataPastEnd(query: Buffer): Buffer {
    const tail = recordTail(typeAsked(query), 'short');
    tail.writeUInt16BE(300, 8);
    return Buffer.concat([replyHead(query, 1), pointer(12), tail]);
  },
} satisfies Record<string, (query: Buffer) => Buffer>;
