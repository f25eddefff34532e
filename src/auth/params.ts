import type { Settings } from '../manifest/settings.js';

/**
 * The auth event's params schema, generated from the manifest's `auth:`
 * section (lengths, registerEmail), so the same ajv pipeline validates it.
 * The password policy (digit, special character) is checked by the route
 * itself, to give a readable message.
 */
export function authParamsSchema(auth: Settings['auth']): Record<string, unknown> {
  const name = { type: 'string', minLength: auth.lengths.username.min, maxLength: auth.lengths.username.max, pattern: '^[\\p{L}\\p{N}_.\\-]+$' };
  const password = { type: 'string', minLength: auth.lengths.password.min, maxLength: auth.lengths.password.max };
  const email = { type: 'string', format: 'email', maxLength: 255 };
  const branch = (type: string, user: Record<string, unknown>, userRequired = true) => ({
    if: { properties: { type: { const: type } }, required: ['type'] },
    then: { required: userRequired ? ['user'] : [], properties: { user } },
  });
  return {
    type: 'object',
    required: ['type'],
    properties: {
      type: { enum: ['register', 'login', 'logout', 'check'] },
      user: { type: 'object' },
    },
    allOf: [
      branch('register', {
        type: 'object',
        required: auth.registerEmail ? ['name', 'email', 'password'] : ['name', 'password'],
        properties: { name, email, password, persistent: { type: 'boolean' } },
      }),
      branch('login', {
        type: 'object',
        required: ['name', 'password'],
        properties: { name: { type: 'string', minLength: 1, maxLength: 255 }, password: { type: 'string', minLength: 1, maxLength: 1024 }, persistent: { type: 'boolean' } },
      }),
      branch(
        'logout',
        {
          type: 'object',
          properties: { name: { type: 'string', maxLength: 255 }, key: { type: 'string', maxLength: 200 } },
        },
        false,
      ),
      branch('check', {
        type: 'object',
        required: ['name', 'key'],
        properties: { name: { type: 'string', maxLength: 255 }, key: { type: 'string', maxLength: 200 } },
      }),
    ],
  };
}
