import { describe, expect, it } from 'vitest';
import { ANY_TABLE, sqlTablesFor } from '../../src/db/sql-tables.js';
import { keyOf } from '../../src/db/tracking.js';

/** What live queries read from SQL (src/db/sql-tables.ts): tables, key filters, written rows; on both dialects. */
describe.each(['sqlite', 'mysql'] as const)('sql-tables on %s', (dialect) => {
  const { analyze } = sqlTablesFor(dialect);

  it('a read: its tables (joins, CTEs, subqueries) and its AND-ed column = value filters, with their placeholder', () => {
    expect(analyze('SELECT id, title FROM cards WHERE board_id = ? ORDER BY id LIMIT ?')).toEqual({
      kind: 'read',
      read: { tables: ['cards'], keys: [{ table: 'cards', column: 'board_id', bound: { index: 0 } }] },
    });
    expect(analyze('SELECT c.id FROM Cards AS c JOIN boards b ON b.id = c.board_id WHERE c.board_id = ? AND b.owner = 3')).toEqual({
      kind: 'read',
      read: {
        tables: ['cards', 'boards'],
        keys: [
          { table: 'cards', column: 'board_id', bound: { index: 0 } },
          { table: 'boards', column: 'owner', bound: { value: '3' } },
        ],
      },
    });
    const cte = analyze('WITH mine AS (SELECT board_id FROM members WHERE user_id = ?) SELECT * FROM cards WHERE board_id IN (SELECT board_id FROM mine)');
    expect(cte.kind === 'read' && cte.read.tables).toEqual(expect.arrayContaining(['members', 'cards']));
    // An OR, an unqualified column of a join, a comparison other than =: no key.
    expect(analyze('SELECT id FROM cards WHERE board_id = ? OR board_id = ?')).toMatchObject({ read: { keys: [] } });
    expect(analyze('SELECT c.id FROM cards c JOIN boards b ON b.id = c.board_id WHERE owner = ?')).toMatchObject({ read: { keys: [] } });
    expect(analyze('SELECT id FROM cards WHERE board_id > ?')).toMatchObject({ read: { keys: [] } });
    // A ? inside a string or a comment is not a placeholder.
    expect(analyze("SELECT '?' AS q FROM cards WHERE title = ? -- ?")).toMatchObject({ read: { keys: [{ column: 'title', bound: { index: 0 } }] } });
  });

  it('a write: its target and what is known of the rows it wrote', () => {
    expect(analyze('INSERT INTO cards (board_id, title) VALUES (?, ?), (7, ?)')).toEqual({
      kind: 'write',
      targets: [
        {
          table: 'cards',
          rows: [
            { board_id: [{ index: 0 }], title: [{ index: 1 }] },
            { board_id: [{ value: '7' }], title: [{ index: 2 }] },
          ],
        },
      ],
    });
    expect(analyze('DELETE FROM main.cards WHERE id = ? AND board_id = ?')).toEqual({ kind: 'write', targets: [{ table: 'cards', rows: [{ id: [{ index: 0 }], board_id: [{ index: 1 }] }] }] });
    // A key the UPDATE moves has both values; one it sets without knowing the old one is unknown.
    expect(analyze('UPDATE cards SET board_id = ? WHERE id = ? AND board_id = ?')).toEqual({
      kind: 'write',
      targets: [{ table: 'cards', rows: [{ id: [{ index: 1 }], board_id: [{ index: 2 }, { index: 0 }] }] }],
    });
    expect(analyze('UPDATE cards SET board_id = ? WHERE id = ?')).toEqual({ kind: 'write', targets: [{ table: 'cards', rows: [{ id: [{ index: 1 }] }] }] });
    expect(analyze('UPDATE cards SET board_id = board_id + 1 WHERE board_id = ?')).toEqual({ kind: 'write', targets: [{ table: 'cards', rows: [{}] }] });
    // Rows not in the text: nothing known of them.
    expect(analyze('INSERT INTO log (title) SELECT title FROM cards')).toEqual({ kind: 'write', targets: [{ table: 'log', rows: null }] });
    expect(analyze('INSERT INTO cards (board_id) VALUES (?) ON DUPLICATE KEY UPDATE board_id = ?')).toEqual({ kind: 'write', targets: [{ table: 'cards', rows: null }] });
  });

  it('what a grammar refuses: a write by its target, anything else unknown', () => {
    expect(analyze('INSERT INTO members (board_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING')).toEqual({ kind: 'write', targets: [{ table: 'members', rows: null }] });
    expect(analyze('UPDATE OR REPLACE cards SET title = ?')).toEqual({ kind: 'write', targets: [{ table: 'cards', rows: null }] });
    expect(analyze('PRAGMA table_info(cards)')).toEqual({ kind: 'unknown' });
    expect(analyze('DELETE FROM')).toEqual({ kind: 'write', targets: [{ table: ANY_TABLE, rows: null }] });
  });
});

describe('keyOf: values as live queries compare them (loosely: what SQL may treat as equal is equal)', () => {
  it('numbers and numeric text, letter case, trailing spaces, null', () => {
    expect(keyOf(7)).toBe(keyOf('7'));
    expect(keyOf('7.0')).toBe(keyOf(7));
    expect(keyOf(7n)).toBe(keyOf(7));
    expect(keyOf('Ab ')).toBe(keyOf('ab'));
    expect(keyOf(null)).not.toBe(keyOf('null'));
    expect(keyOf('a')).not.toBe(keyOf('b'));
  });
});
