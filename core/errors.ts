// Errors as typed values. The table behaves as the kernel's IPVS does: an
// operation that fails reports the errno the kernel would return, and the
// ipvsadm-compatible CLI turns that errno into ipvsadm's own message.

export type Errno =
  | 'EEXIST' | 'ENOENT' | 'ESRCH' | 'EINVAL' | 'ERANGE' | 'EPERM'
  | 'ENOMEM' | 'ENODEV' | 'EOPNOTSUPP' | 'EAFNOSUPPORT' | 'ENOPROTOOPT'
  | 'EMSGSIZE' | 'EFAULT' | 'EBUSY';

/** A failed table operation: the errno plus, for logs, a sentence an operator understands. */
export class TableError extends Error {
  readonly errno: Errno;
  constructor(errno: Errno, message: string) {
    super(message);
    this.name = 'TableError';
    this.errno = errno;
  }
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: TableError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (errno: Errno, message: string): Result<never> =>
  ({ ok: false, error: new TableError(errno, message) });

/** The C library's strerror() texts for the errnos the table can return. */
export const STRERROR: Record<Errno, string> = {
  EEXIST: 'File exists',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINVAL: 'Invalid argument',
  ERANGE: 'Numerical result out of range',
  EPERM: 'Operation not permitted',
  ENOMEM: 'Cannot allocate memory',
  ENODEV: 'No such device',
  EOPNOTSUPP: 'Operation not supported',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  ENOPROTOOPT: 'Protocol not available',
  EMSGSIZE: 'Message too long',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
};
