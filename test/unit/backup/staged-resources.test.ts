import { readStagedResources } from '../../../activities/backup/point-lifecycle';
import { newRepo } from '../datapath/helpers';

describe('staged resources of a point', () => {
  const value = { items: [{ kind: 'ConfigMap', name: 'a' }], images: ['nginx:1'] };

  test('a sealed body whose random nonce begins with "{" is opened, not parsed as clear JSON', async () => {
    const { repo, store } = await newRepo();
    let body = repo.sealObject('manifest', value);
    for (let i = 0; body[0] !== 0x7b; i++) {
      if (i > 10_000) throw new Error('no sealed body began with "{" in 10,000 tries');
      body = repo.sealObject('manifest', value);
    }
    await store.put('p/staging/resources.json', body);
    await expect(readStagedResources(repo, 'p/staging/resources.json')).resolves.toEqual(value);
  });

  test('clear JSON written by a backup that started before staging was sealed is still read', async () => {
    const { repo, store } = await newRepo();
    await store.put('p/staging/resources.json', JSON.stringify(value));
    await expect(readStagedResources(repo, 'p/staging/resources.json')).resolves.toEqual(value);
  });

  test('a damaged sealed body fails with the repository format error, not a JSON syntax error', async () => {
    const { repo, store } = await newRepo();
    const body = repo.sealObject('manifest', value);
    body[0] = 0x7b;
    body[body.length - 1] ^= 1;
    await store.put('p/staging/resources.json', body);
    await expect(readStagedResources(repo, 'p/staging/resources.json')).rejects.toMatchObject({ name: 'RepositoryFormatError' });
  });
});
