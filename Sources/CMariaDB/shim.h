// MariaDB Connector/C for Swift. mysql_options takes a `const void *`; the typed
// wrappers below keep Swift call sites free of pointer casts.
#ifndef CMARIADB_SHIM_H
#define CMARIADB_SHIM_H
#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

static inline int CMariaDB_set_uint_option(MYSQL *mysql, enum mysql_option option, unsigned int value) {
    return mysql_options(mysql, option, &value);
}
static inline int CMariaDB_set_bool_option(MYSQL *mysql, enum mysql_option option, my_bool value) {
    return mysql_options(mysql, option, &value);
}
static inline int CMariaDB_set_string_option(MYSQL *mysql, enum mysql_option option, const char *value) {
    return mysql_options(mysql, option, value);
}
#endif
