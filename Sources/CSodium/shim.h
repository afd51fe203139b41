// libsodium for Swift (argon2id through crypto_pwhash, constant-time helpers).
#ifndef CSODIUM_SHIM_H
#define CSODIUM_SHIM_H
#include <sodium.h>
#endif
