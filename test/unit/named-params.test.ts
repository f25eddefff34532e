import { describe, expect, it } from 'vitest';
import { rewriteNamedParams, type Dialect } from '../../src/db/named-params.js';

/** The rewritten text and the parameter names, in order. */
const rw = (sql: string, dialect: Dialect = 'sqlite') => {
  const r = rewriteNamedParams(sql, dialect);
  return { text: r.text, names: r.params.map((p) => p.name) };
};

const BOTH: Dialect[] = ['sqlite', 'mysql'];

describe('rewriteNamedParams: the :name tokenizer', () => {
  describe.each(BOTH)('on %s', (dialect) => {
    it('turns each :name into ?, in order, repeats included, with the offset of its colon', () => {
      const sql = 'SELECT * FROM t WHERE a = :a AND b = :b OR a = :a';
      const r = rewriteNamedParams(sql, dialect);
      expect(r.text).toBe('SELECT * FROM t WHERE a = ? AND b = ? OR a = ?');
      expect(r.params).toEqual([
        { name: 'a', offset: sql.indexOf(':a') },
        { name: 'b', offset: sql.indexOf(':b') },
        { name: 'a', offset: sql.lastIndexOf(':a') },
      ]);
    });

    it('reads dotted names (auth.id, filter.from) but not a trailing or numeric dot', () => {
      expect(rw('VALUES (:auth.id, :filter.from, :a_1.b_2.c)', dialect)).toEqual({ text: 'VALUES (?, ?, ?)', names: ['auth.id', 'filter.from', 'a_1.b_2.c'] });
      expect(rw('WHERE x = :a. AND y = :b.1', dialect)).toEqual({ text: 'WHERE x = ?. AND y = ?.1', names: ['a', 'b'] });
    });

    it('a name starts with a letter or _ and ends at the first other character', () => {
      expect(rw(':_x,:y2;:Z)', dialect)).toEqual({ text: '?,?;?)', names: ['_x', 'y2', 'Z'] });
      expect(rw('SELECT :1, : x, :', dialect)).toEqual({ text: 'SELECT :1, : x, :', names: [] });
    });

    it('a colon right after a name character is not a parameter (a:b, 12:30)', () => {
      expect(rw('SELECT a:b, 12:30, x :y', dialect)).toEqual({ text: 'SELECT a:b, 12:30, x ?', names: ['y'] });
    });

    it(':: is a cast, never a parameter, also right after one', () => {
      expect(rw("SELECT x::int, :a::text, '1'::int, CAST(:b AS INT)", dialect)).toEqual({ text: "SELECT x::int, ?::text, '1'::int, CAST(? AS INT)", names: ['a', 'b'] });
      expect(rw('SELECT x:: y', dialect).names).toEqual([]);
    });

    it('skips single-quoted strings, doubled quotes included', () => {
      expect(rw("SELECT ':nope', 'it''s :nope', :yes", dialect)).toEqual({ text: "SELECT ':nope', 'it''s :nope', ?", names: ['yes'] });
    });

    it('skips double-quoted and backquoted names', () => {
      expect(rw('SELECT ":nope" AS "a "":b", `:nope`, `x``:y` FROM t WHERE c = :c', dialect)).toEqual({ text: 'SELECT ":nope" AS "a "":b", `:nope`, `x``:y` FROM t WHERE c = ?', names: ['c'] });
    });

    it('skips -- line comments and /* */ block comments', () => {
      expect(rw('SELECT :a -- :b\n, :c /* :d\n :e */ , :f', dialect)).toEqual({ text: 'SELECT ? -- :b\n, ? /* :d\n :e */ , ?', names: ['a', 'c', 'f'] });
      // A single - is an operator.
      expect(rw('SELECT :a - :b', dialect).names).toEqual(['a', 'b']);
    });

    it('an unterminated string or comment runs to the end', () => {
      expect(rw("SELECT :a, ':b", dialect)).toEqual({ text: "SELECT ?, ':b", names: ['a'] });
      expect(rw('SELECT :a /* :b', dialect)).toEqual({ text: 'SELECT ? /* :b', names: ['a'] });
      expect(rw('SELECT :a -- :b', dialect)).toEqual({ text: 'SELECT ? -- :b', names: ['a'] });
    });

    it('leaves ? placeholders and everything else as it was', () => {
      const sql = "SELECT id, name FROM users WHERE name = ? AND note LIKE '%?%'\nORDER BY id";
      expect(rw(sql, dialect)).toEqual({ text: sql, names: [] });
    });
  });

  describe('dialect differences', () => {
    it('# starts a comment on MySQL only', () => {
      expect(rw('SELECT :a # :b\n, :c', 'mysql')).toEqual({ text: 'SELECT ? # :b\n, ?', names: ['a', 'c'] });
      expect(rw('SELECT :a # :b\n, :c', 'sqlite')).toEqual({ text: 'SELECT ? # ?\n, ?', names: ['a', 'b', 'c'] });
    });

    it('a backslash escapes a quote in MySQL strings only', () => {
      // SQLite: 'a\' is a whole string, so :x is a parameter.
      expect(rw("SELECT 'a\\' :x", 'sqlite')).toEqual({ text: "SELECT 'a\\' ?", names: ['x'] });
      // MySQL: \' is a quote inside the string, which goes on.
      expect(rw("SELECT 'a\\' :x' , :y", 'mysql')).toEqual({ text: "SELECT 'a\\' :x' , ?", names: ['y'] });
      expect(rw('SELECT "a\\" :x" , :y', 'mysql')).toEqual({ text: 'SELECT "a\\" :x" , ?', names: ['y'] });
      expect(rw("SELECT 'a\\\\', :y", 'mysql')).toEqual({ text: "SELECT 'a\\\\', ?", names: ['y'] });
    });

    it('a backslash does not escape a MySQL backquote', () => {
      expect(rw('SELECT `a\\` :x', 'mysql')).toEqual({ text: 'SELECT `a\\` ?', names: ['x'] });
    });
  });
});
