import bcrypt from 'bcryptjs';

// Compared against when the user does not exist, so both failures cost one bcrypt.
let dummyHash: string | undefined;

export function hashPassword(password: string, cost: number): Promise<string> {
  return bcrypt.hash(password, cost);
}

export async function verifyPassword(password: string, hash: string | undefined, cost: number): Promise<boolean> {
  if (hash === undefined) {
    dummyHash ??= bcrypt.hashSync('sockey-no-such-user', cost);
    await bcrypt.compare(password, dummyHash);
    return false;
  }
  return bcrypt.compare(password, hash);
}

/** bcrypt only reads the first 72 bytes: longer passwords are refused rather than silently cut. */
export function tooLongForBcrypt(password: string): boolean {
  return bcrypt.truncates(password);
}

/** The original sockey's rule: at least one digit and one special character (each may be turned off). */
export function policyProblems(password: string, policy: { digit: boolean; special: boolean }): string[] {
  const problems: string[] = [];
  if (policy.digit && !/\d/.test(password)) problems.push('must contain a digit');
  if (policy.special && !/[^A-Za-z0-9]/.test(password)) problems.push('must contain a special character');
  return problems;
}
