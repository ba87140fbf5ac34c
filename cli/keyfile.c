/* cli/keyfile.c - create and read key files (see keyfile.h). */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "cli.h"

int cli_key_file_create(char hex[CLI_KEY_HEX_LEN + 1], const char *path)
{
	uint8_t secret[CRYPTO_KEY_LEN];
	int fd, error;

	error = crypto_random(secret, sizeof(secret));
	if (error)
		return error;
	crypto_hex(hex, secret, sizeof(secret));
	crypto_wipe(secret, sizeof(secret));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		error = err_set_errno(errno == EEXIST ? ERR_EXISTS : ERR_IO, errno,
			"cannot create the key file '%s'", path);
		goto out;
	}
	if (write(fd, hex, CLI_KEY_HEX_LEN) != CLI_KEY_HEX_LEN || write(fd, "\n", 1) != 1 ||
		fsync(fd) != 0)
		error = err_set_errno(ERR_IO, errno, "cannot write the key file '%s'", path);
	close(fd);
	if (error)
		unlink(path);
out:
	if (error)
		crypto_wipe(hex, CLI_KEY_HEX_LEN + 1);
	return error;
}

int cli_credential(struct buf *out, const char *name)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	struct stat sb;
	int error;

	if (!dir || !*dir)
		return 0;
	buf_reset(out);
	error = buf_printf(out, "%s/%s", dir, name);
	if (error)
		return error;
	return stat(out->ptr, &sb) == 0 && S_ISREG(sb.st_mode) ? 1 : 0;
}

int cli_key_file_read(char hex[CLI_KEY_HEX_LEN + 1], const char *path)
{
	struct buf text = BUF_INIT(CLI_KEY_HEX_LEN + 2);
	struct stat sb;
	size_t i;
	int error;

	if (stat(path, &sb) != 0)
		return err_set_errno(ERR_NOTFOUND, errno, "cannot read the key file '%s'", path);
	if (sb.st_mode & 077)
		return err_set(ERR_PERM, "the key file '%s' is readable by others (chmod 600 it)",
			path);
	error = cli_read_file(&text, path, CLI_KEY_HEX_LEN + 2);
	if (!error && text.len && text.ptr[text.len - 1] == '\n')
		text.ptr[--text.len] = '\0';
	for (i = 0; !error && i < text.len; i++)
		if (!strchr("0123456789abcdef", text.ptr[i]))
			break;
	if (!error && (text.len != CLI_KEY_HEX_LEN || i != text.len))
		error = err_set(ERR_INVALID, "the key file '%s' is malformed", path);
	if (!error)
		memcpy(hex, text.ptr, CLI_KEY_HEX_LEN + 1);
	buf_wipe_release(&text);
	return error;
}
