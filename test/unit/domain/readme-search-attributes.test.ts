import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ALL_SEARCH_ATTRIBUTES, searchAttributeTypeName } from '../../../shared/search-attributes';

describe('the README registers every search attribute the runs set', () => {
  it('lists one `temporal operator search-attribute create` per attribute, with its type', () => {
    const readme = readFileSync(path.join(__dirname, '../../../README.md'), 'utf8');
    const documented = [...readme.matchAll(/temporal operator search-attribute create --namespace \S+ --name (\w+) --type (\w+)/g)].map((m) => `${m[1]}=${m[2]}`);
    expect(documented).toEqual(ALL_SEARCH_ATTRIBUTES.map((k) => `${k.name}=${searchAttributeTypeName(k)}`));
  });
});
