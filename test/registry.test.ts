import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DIRECTIVES } from '../src/directives/registry.js';

describe('the directive registry', () => {
  it("owns every key a route may have (the schema's), each once; description compiles to nothing", () => {
    const schema = JSON.parse(readFileSync(new URL('../schema/sockey.schema.json', import.meta.url), 'utf8'));
    const routeKeys = Object.keys(schema.$defs.route.properties).sort();
    const owned = DIRECTIVES.flatMap((d) => d.keys as string[]);
    expect(new Set(owned).size).toBe(owned.length);
    expect([...owned, 'description'].sort()).toEqual(routeKeys);
  });

  it('compiles auth and params before the directives that check names against them', () => {
    const order = DIRECTIVES.map((d) => d.keys[0]);
    expect(order.indexOf('auth')).toBeLessThan(order.indexOf('params'));
    for (const later of ['sql', 'emit', 'join', 'timers']) expect(order.indexOf('params')).toBeLessThan(order.indexOf(later as never));
  });
});
