// Key generation wrappers: EVP_EC_gen and friends are macros over the variadic EVP_PKEY_Q_keygen,
// which Swift cannot call.
#ifndef COPENSSL_KEYGEN_H
#define COPENSSL_KEYGEN_H
#include <openssl/evp.h>
#include <openssl/ec.h>

static inline EVP_PKEY *COpenSSL_EC_gen(const char *curve) {
    return EVP_EC_gen(curve);
}
#endif
