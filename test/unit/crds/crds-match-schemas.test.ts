/** The chart's CRDs are generated from the zod schemas; this fails when they drift apart. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CRD_DIR, crdYaml, generateCrds } from '../../../scripts/crds/generate';

describe('deploy/helm/temporal-dr/crds', () => {
  const generated = generateCrds();

  it.each(generated.map((crd) => [crd.file, crd]))('%s is what `npm run gen:crds` generates from the schemas now', (file, crd) => {
    const committed = readFileSync(path.join(CRD_DIR, file), 'utf8');
    // On failure: run `npm run gen:crds` and commit the result with the schema change.
    expect(committed).toEqual(crdYaml(crd));
  });

  it('holds no CRD the generator does not make', () => {
    expect(readdirSync(CRD_DIR).sort()).toEqual(generated.map((c) => c.file).sort());
  });

  it('leaves open only what the zod schemas leave open (JSON patch values and merge patches)', () => {
    expect(generated.flatMap((c) => c.open)).toEqual(['.spec.transforms[].jsonPatch[].value', '.spec.transforms[].mergePatch.*']);
  });
});
