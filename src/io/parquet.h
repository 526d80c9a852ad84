/* parquet.h: what the Parquet reader (parquet_read.c) and writer (parquet_write.c) share: the
 * format's enumerations (numbered as in parquet.thrift) and the RLE/bit-packed hybrid codec.
 */
#ifndef FQL_PARQUET_H
#define FQL_PARQUET_H

#include <stdint.h>
#include "util.h"

/* physical types */
enum { PQ_BOOLEAN, PQ_INT32, PQ_INT64, PQ_INT96, PQ_FLOAT, PQ_DOUBLE, PQ_BYTE_ARRAY, PQ_FIXED };
/* repetition */
enum { PQ_REQUIRED, PQ_OPTIONAL, PQ_REPEATED };
/* converted types (the legacy annotations) */
enum {
    CT_UTF8 = 0, CT_MAP = 1, CT_MAP_KEY_VALUE = 2, CT_LIST = 3, CT_ENUM = 4, CT_DECIMAL = 5, CT_DATE = 6,
    CT_TIME_MILLIS = 7, CT_TIME_MICROS = 8, CT_TIMESTAMP_MILLIS = 9, CT_TIMESTAMP_MICROS = 10,
    CT_UINT_8 = 11, CT_UINT_64 = 14, CT_INT_8 = 15, CT_JSON = 19, CT_BSON = 20, CT_INTERVAL = 21
};
/* LogicalType union members (field ids) */
enum {
    LT_STRING = 1, LT_MAP = 2, LT_LIST = 3, LT_ENUM = 4, LT_DECIMAL = 5, LT_DATE = 6, LT_TIME = 7,
    LT_TIMESTAMP = 8, LT_INTEGER = 10, LT_NULL = 11, LT_JSON = 12, LT_BSON = 13, LT_UUID = 14, LT_FLOAT16 = 15
};
/* time units (TimeUnit union field ids) */
enum { TU_MILLIS = 1, TU_MICROS = 2, TU_NANOS = 3 };
/* compression codecs */
enum { PQ_UNCOMPRESSED = 0, PQ_SNAPPY = 1, PQ_GZIP = 2, PQ_LZO = 3, PQ_BROTLI = 4, PQ_LZ4 = 5, PQ_ZSTD = 6, PQ_LZ4_RAW = 7 };
/* encodings */
enum {
    ENC_PLAIN = 0, ENC_PLAIN_DICTIONARY = 2, ENC_RLE = 3, ENC_BIT_PACKED = 4, ENC_DELTA_BINARY_PACKED = 5,
    ENC_DELTA_LENGTH_BYTE_ARRAY = 6, ENC_DELTA_BYTE_ARRAY = 7, ENC_RLE_DICTIONARY = 8, ENC_BYTE_STREAM_SPLIT = 9
};
/* page types */
enum { PAGE_DATA = 0, PAGE_INDEX = 1, PAGE_DICTIONARY = 2, PAGE_DATA_V2 = 3 };

/* Bits needed to store values up to max (0 for 0). */
static inline int pq_bit_width(uint64_t max)
{
    int w = 0;
    while (max) { w++; max >>= 1; }
    return w;
}

/* Append n values of width bits (<= 32) in the RLE/bit-packed hybrid encoding (no length prefix):
 * runs of 8 or more equal values as RLE runs, the rest bit-packed in groups of 8. */
void pq_hybrid_encode(Buf *b, const uint32_t *v, size_t n, int width);
/* Decode count values of width bits from p[0..n). Returns NULL or a static description of the
 * problem (the data ends early, a run is longer than its page ...). */
const char *pq_hybrid_decode(const uint8_t *p, size_t n, int width, uint32_t *out, size_t count);

#endif
