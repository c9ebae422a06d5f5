/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * XTS known answers for the non-AES 128-bit block ciphers (Serpent, Twofish,
 * Camellia, SM4), published by other implementations, through the sector
 * cipher (libgcrypt's XTS) in both directions, and through a bare libgcrypt
 * XTS handle where a vector's tweak is not a plain64 sector number.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "crypto/backend.h"
#include "crypto/crypto_internal.h"

/* The IEEE 1619-2007 keys of vectors 4-9 (2x128) and 10-14 (2x256): digits of e and pi. */
#define K128_A "2718281828459045235360287471352631415926535897932384626433832795"
#define K256_A                                                             \
	"2718281828459045235360287471352662497757247093699959574966967627" \
	"3141592653589793238462643383279502884197169399375105820974944592"

/*
 * A vector whose tweak is a little-endian sector number: the tweak block is
 * le64(sector) || 0^8, which is exactly dm-crypt's plain64 IV, so the vector
 * is one 512-byte unit (or the start of one) of "<alg>-xts-plain64".
 */
struct sector_vector {
	const char *alg;
	int number; /* index in the source's table */
	const char *key;
	uint64_t sector;
	size_t len; /* with pt NULL: the bytes 00..ff repeated, len bytes */
	const char *pt;
	const char *ct;
};

/*
 * Linux crypto/testmgr.h (v6.12): serpent_xts_tv_template, tf_xts_tv_template,
 * camellia_xts_tv_template and sm4_xts_tv_template, each generated from the
 * IEEE 1619-2007 AES-XTS inputs: entries 0-3 are vectors 1-4 (2x128-bit keys;
 * entry 0 has equal key halves), entry 4 is vector 10 (2x256-bit key, 512
 * bytes, sector 0xff), except for SM4 (128-bit keys only), whose entry 4 is a
 * 189-byte unit that ends in ciphertext stealing.
 */
static const struct sector_vector sector_vectors[] = {
    /* serpent_xts_tv_template */
    {
	.alg = "serpent",
	.number = 0,
	.key = "0000000000000000000000000000000000000000000000000000000000000000",
	.sector = 0x0,
	.pt = "0000000000000000000000000000000000000000000000000000000000000000",
	.ct = "e108b81d2cf53364c81204c7b370e8c46a31c5f300cab916dee27766f7fe6208",
    },
    {
	.alg = "serpent",
	.number = 1,
	.key = "1111111111111111111111111111111122222222222222222222222222222222",
	.sector = 0x3333333333,
	.pt = "4444444444444444444444444444444444444444444444444444444444444444",
	.ct = "1a0a095fcd070798418612afb3d76813ed81cd0687431abb133dd61e2be177be",
    },
    {
	.alg = "serpent",
	.number = 2,
	.key = "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f022222222222222222222222222222222",
	.sector = 0x3333333333,
	.pt = "4444444444444444444444444444444444444444444444444444444444444444",
	.ct = "f99b28b85caf8c61b61c818f2c8760890d8d7ae86048cc86c16845aa00e924c5",
    },
    {
	.alg = "serpent",
	.number = 3,
	.key = K128_A,
	.sector = 0x0,
	.len = 512,
	.pt = NULL,
	.ct = "fe474ac8607eb48b0d10f4b00dbaf853656e384bdbaab19e28cab022b38575f4"
	      "005c751406d62582e6cb08f72990238ea46857e4f0d832f3805167b50b8569e8"
	      "19fec4c73eea90d38fa3f20aac174ba0635a160ff0ce661f2c2107f1a403a344"
	      "4161875d6bb3efd4fcaa327e55580441c90733c6a268d65a55794b6fcf89b919"
	      "e5541315b21afa15c2f00659faa0250558fa4391168540bb0d344dc51e20d508"
	      "cd222241119f6c7c8d57c9ba57e82cf7a042a8defca3ca984b43b1ce4bbf0167"
	      "6e2960bd1014848283820c637392027c553720801751c8bc4602cb38076de285"
	      "aa29af24580df075080aa5342516f374a70b97bec1a9dc291a0a56c11a91978c"
	      "0bc716ed5a22a62e8c2b4f547647538ee800ec92b955e6a2f3e24f6a6660d087"
	      "e6d1cce36ac52d21cc9d6ab675aae219219fa15e4cfd72f9944e63c7aefced47"
	      "e2fe7a6377fe9782b1106e361de1c480ec6941eca78ae02fe34926a241b2080f"
	      "28b4a739a1992d1e434235d0cfec7767b23b9e1c35de4f5e733f5d6f074b2e50"
	      "ab6c6bffea0067aa0e8232dd3db5e5762b773fbe1275fb92c689674dcaf7d450"
	      "c07447ccd90ad4c63b172ee335bb53b586ad51ccd596b8dc0357e698522f6162"
	      "c45c9c367107fb94e302c42b0875c735fb2e887bbb6700e1c9dd99b213531a4e"
	      "768719041a2f383eef91641d18074e3188217cb0a5124c3cb020bddadff97cdd",
    },
    {
	.alg = "serpent",
	.number = 4,
	.key = K256_A,
	.sector = 0xff,
	.len = 512,
	.pt = NULL,
	.ct = "2bc9b46b1094a932aab020c6443d741f7501a7f6f5f7621b801b82cb0159917f"
	      "803a98f0d2cac4c334fde611f933451248c58c25f1c5c523d344b473d504c0b7"
	      "ca2ff5cdc5b4ddb0f460e8fbc69cc578cdec7ddc199c7264630b382e76dd2d36"
	      "49b01dea789e00ca20cc1b1e9874abed79f7d06cd8938029aca55e34a9aba055"
	      "9aeaaa954d7bfe46268afd88a2a8a6ae254217bf768f1c3dec9ada6496b561ff"
	      "99eb129685829dd5818514a859ac8c94bb3b852bdfb30cba82c64dca86ea5328"
	      "4ce04e31e3732f799d42e103e38bc4ff05ca817bdaa2de633a10bec2ac32c405"
	      "477eef67e25f5baeedf17034169a077bf2252bb0f83c159aa659555fc1f41ecd"
	      "931f06bad49a2269fa8e950df323592cfe00baf00ebc6dd662f07a0e833edb32"
	      "fd437dda425187439df9eff43097f80988fc3f9370c14aec275f11ac71c74846"
	      "2ff9df8d9ff72e560d4eb03276ce8681cddfe400bffd5f24aff79adeff18ac14"
	      "90c50139340f24f3132f5e4f309a3640eceabccd9e0e5b235088974069b137f5"
	      "c315f93fb77964e87b1020b92b46835bd839fce4fa8852f272b0974e89b34800"
	      "c116735077baa665202db0022789da9945fbe9d31d392fd62ada091211afe657"
	      "01048aff868bacf8eee41c985bcf6b76a30e337440183972665031fd70dfe851"
	      "962136b29bfa85d13005c8929880ff7aaf430bc520419220d4a09198115f4db1",
    },
    /* tf_xts_tv_template */
    {
	.alg = "twofish",
	.number = 0,
	.key = "0000000000000000000000000000000000000000000000000000000000000000",
	.sector = 0x0,
	.pt = "0000000000000000000000000000000000000000000000000000000000000000",
	.ct = "4bc9444a11a3efac3074e44452779743a760b2452ef900909faafd896e9d4ae0",
    },
    {
	.alg = "twofish",
	.number = 1,
	.key = "1111111111111111111111111111111122222222222222222222222222222222",
	.sector = 0x3333333333,
	.pt = "4444444444444444444444444444444444444444444444444444444444444444",
	.ct = "570e8fe52a35614f32d3bd360515442c5806f7f800a8b6d5c62892dbd834a2e9",
    },
    {
	.alg = "twofish",
	.number = 2,
	.key = "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f022222222222222222222222222222222",
	.sector = 0x3333333333,
	.pt = "4444444444444444444444444444444444444444444444444444444444444444",
	.ct = "96458f8d7a75b1de400c8956f64da70738bb5be9cd84aeb27b6a62f48cb537ea",
    },
    {
	.alg = "twofish",
	.number = 3,
	.key = K128_A,
	.sector = 0x0,
	.len = 512,
	.pt = NULL,
	.ct = "a978ae1eeaa2444ca27a641faf46c1e06cb2f3929ad67d58b82db95d58076650"
	      "ea35358cb24661065d65fc578f6974ab8a0669b56cda66c75290bb8e6d8bb5a2"
	      "781dc2a9c27300c332367c976b4e8a50e49183968ff4941aa627e133cb91c65f"
	      "9475bcd73e3e6f9ea931805ee5dbc853017368322519fafbe4cfb93ea2a08f31"
	      "bf540693a8b10fb67c3cde6f0ffb0c11398039099765f283aee6a16f47b849de"
	      "9936207d973becfab4336e7ac746844991cde1570ded400813f14e3ea4a45ce6"
	      "d20c208f3edf3f479a2fde6d66c9994a2d9e9d4b1a27a21299f0f8b1b6f657c3"
	      "ca1ca38eed3928b5101b4b0842004ad3ad5ac68ec8bb95c44baafed542a8a36d"
	      "3cf334912db4dd200c906da39b669d2402a6a93f3f585d472465637ebd8ce652"
	      "7def335363ecaa0b6415a9a61f10003835a8e7be237022e0d3b9e6fde6aa0350"
	      "f33c27368bccfe9c9ca3b3e7689ba271e007d91f681fac5e7a7485a96a90ab2c"
	      "3851bc1f434a561cf847034e67a81f9904397332b28679e7142870b8e27d6985"
	      "b60fc5d0d0015ce6090f75f7b681d211209ca1ee114479d0b23477da109a6f6f"
	      "ef7cd9dc35b761ddf1a4c61cbf0522acfe2f850044df331635b6a3d370df6935"
	      "6ac7b4994527c88e5a1430d0553e4f640d38e3df8ba8932675aef6b5230b1731"
	      "bf27b8b59431a78f43c44624224f8f7ee5f46d1e0e187abba68ffb4949d87e5a",
    },
    {
	.alg = "twofish",
	.number = 4,
	.key = K256_A,
	.sector = 0xff,
	.len = 512,
	.pt = NULL,
	.ct = "d74b937d13a2a2e135397188761ec9ea86adf314483d5ee9e92db25659359dec"
	      "84fa7e9d6d33368fcef4a9210b5f96eccbf95768338839bf2fbb5903bd668b11"
	      "1165512eb86705d127115cd4cc97c2b3a955af0756d1dcf585dc46e6f024eb93"
	      "4df09bf5731cda0322c83a4fb4199109540bf6fe173d1a53726079cb0e328a77"
	      "d5eddb33d762166963e0abb5f69c5f3d69356186f886b9896e5935acf66b33a0"
	      "eaef9662d8a9cf56bfdb8afda18277733d944a49426d0860a1eaabb6881394b8"
	      "5198db3585dff6b98fcddf80d3402d72b8b26c024335222a31edcd1619df620f"
	      "29cf8704ec024fe4a2ed73c669d37e890b76107cd6f96a25edcc605d6120c197"
	      "56915728be710dcddec49e5591bed1289b90eb73f36851c6df82ccd81fce5b27"
	      "c0605e33d6a720eab254c75d6a3b6747cfa0e3ab86afc142e6b0234aaf53dfa0"
	      "ad12323103f721be2dd58242b64a3dcdd88177a949986c09c5a3611262856bcd"
	      "b3f4200c41c40537465feb718bf1af6ebaf3502efea837ebe88c4fa40cf131c8"
	      "6e714fa5d79773e0934a2fda7be020541f8d85790b7b5e75b90767ccc8e72115"
	      "a7c898ff4b801c12a854e13852e674819747a1410ec050e3550ec3a77077ce07"
	      "ed8c88e6a15b14ece6de066d74c5d9fae52f5affc805ee273561bf0b19789bd2"
	      "04c705b179b4ff5ff3ea675278c2ce70a4050bb2b3a830973730e1918db32aff",
    },
    /* camellia_xts_tv_template */
    {
	.alg = "camellia",
	.number = 0,
	.key = "0000000000000000000000000000000000000000000000000000000000000000",
	.sector = 0x0,
	.pt = "0000000000000000000000000000000000000000000000000000000000000000",
	.ct = "06cba5f10463b241dccafa09ba74b90578baa4f8674d7ead2018f50c41162a61",
    },
    {
	.alg = "camellia",
	.number = 1,
	.key = "1111111111111111111111111111111122222222222222222222222222222222",
	.sector = 0x3333333333,
	.pt = "4444444444444444444444444444444444444444444444444444444444444444",
	.ct = "c2b9dc441ddff2868d35420aa55e3d4fb53706ffbdd49170801fb239108944f5",
    },
    {
	.alg = "camellia",
	.number = 2,
	.key = "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f022222222222222222222222222222222",
	.sector = 0x3333333333,
	.pt = "4444444444444444444444444444444444444444444444444444444444444444",
	.ct = "521f9df55a585a7e9fd08e029c9a6aa7b43bcee717aa896a353c6bb5611c7938",
    },
    {
	.alg = "camellia",
	.number = 3,
	.key = K128_A,
	.sector = 0x0,
	.len = 512,
	.pt = NULL,
	.ct = "c7f90aaacbb58f3360c3e94790b75057a3ad812ff5229602aa7feaac2978ca2a"
	      "7ccd311a3c400a730966ad720e4d5d77bcb876803759a9019efbdb6c93efb68d"
	      "1ec194a8d4b5b001d5019728cd7a1fe808da760065cf7b31c6faf23b00a76a9e"
	      "6c438087e0bb4ee5dc8adfc31d1b4104fb54dd2927c265173688b0858d737e4b"
	      "1d168a52bca6bca48cd10416bf8c010f7e6b591529d19bd36ceeacdc4558ca5b"
	      "700e6a128682799f16d49d67cd70652621721ea1948a830c9242585ea2c531f3"
	      "7bd131d4158031615c5310ddeac8835c7da70566cc1ebb0547aeb40f84d8f6b5"
	      "a1c6520052e8dcd91631b2479167aa282c2985a3f7f2249323801fa81b828ddc"
	      "9f0bcdb43c20bcec4fc7eef8fdd9fb7e3f0d23fa3fa7cc661cfea686f6f785c7"
	      "43c1d4fce479c91df889cd2027845d5c8e4f1feb08214fa3e07e0b9ce742cfb7"
	      "3f43cc8671346ad95eec8f36c90a03fe1841dc9e2e75203ecc77e08fe843374c"
	      "ed1a5ab3fa43c9719fc5cecfffe7771e3593de6bc06a7ea934b8277408daf24a"
	      "235b9f553a578252ea6dc3c7f2c8b5dcc5b9bbaaf2299f497aeffedc9fc928e2"
	      "960b3584050dd62aea5abf69deee4f8f84b9cfa757eae0e896ef0f0eecc7a674"
	      "b1fe7a6d11dd0e154a1e737f55eaf6e15bb671dab00cba265c48386d1c32b27d"
	      "0587c21e7e2dd433cc06dbe7822963d152844fee27e802d4343c69c2bd20e67a",
    },
    {
	.alg = "camellia",
	.number = 4,
	.key = K256_A,
	.sector = 0xff,
	.len = 512,
	.pt = NULL,
	.ct = "49cdb8bf2f7337289a7f6e5755b807884a0d8b5560edb67bf174ac96057b32ca"
	      "d14ef1582916246cf2b3e48884ac4dee970782f00712380a6762affd859f0a55"
	      "a520c560e46853a40e2e65e3e40c307c1c014f55a913eb252187bcd3e7674f38"
	      "a8142571e92e4c2141820c453935a875032901848cab48be11562267b7671a09"
	      "a17225413c3965807d2ff82c7304589ddd168b63704ec51721e084514b6f0552"
	      "e36334faa4af3320c1ae32c4b82bdb76d902312fa3c6d07baf1b84e39bbfa6e0"
	      "b88a138871f411a5e9a91033e0be49894122f59d803e3b760116506e7c6a81e9"
	      "132cdeb25f79bab2b175aed207984b69ae7d5b90c26ce698d34ca1a39cc9336a"
	      "0d23b17925134be5af93205c7f067a340b78e36726e0ad95c54e2622cf737762"
	      "3e10d7904b521cc9ef3852180e297eef34fe3195c5bca8e2a84e9feaa6f0fe5d"
	      "c53986ed2f6da0fe96cd4110784e0cc9c36d0fb7e8e062ab8bf12189a112aafa"
	      "9d70be4ca8988901b9e261de0c4a0baa89f51479188f3b0d2117f85915246422"
	      "574880d53d923007d9a14a231643480e2b2d1b87ef7ebdfa49bc7e686ea84695"
	      "ad5efe0aa8d31a5d6b84f300ba520502e3964eb6793f43d34d3fd6ab0ac4752d"
	      "d108c36ac83729a0cc9a05dd5ce1ff66f27a1df2afa94889f5210f02488374bf"
	      "2ee6937ba0f4b12bb1020a5c79193b75b716d8125ccd7d4ed5c699cc4e6c9495",
    },
    /* sm4_xts_tv_template */
    {
	.alg = "sm4",
	.number = 0,
	.key = "0000000000000000000000000000000000000000000000000000000000000000",
	.sector = 0x0,
	.pt = "0000000000000000000000000000000000000000000000000000000000000000",
	.ct = "d9b421f731c894fdc35b77291fe4e3b02a1fb76698d59f0e51376c4ada5bc75d",
    },
    {
	.alg = "sm4",
	.number = 1,
	.key = "1111111111111111111111111111111122222222222222222222222222222222",
	.sector = 0x3333333333,
	.pt = "4444444444444444444444444444444444444444444444444444444444444444",
	.ct = "a74d726c11196a32be04e001ff29d0c7932f9f3ec29bfcb64dd17f63cbd3ea31",
    },
    {
	.alg = "sm4",
	.number = 2,
	.key = "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f022222222222222222222222222222222",
	.sector = 0x3333333333,
	.pt = "4444444444444444444444444444444444444444444444444444444444444444",
	.ct = "7f76088effadf70c02ea9f95da0628d351bfcb9eac0563bcf17b710dab0a9826",
    },
    {
	.alg = "sm4",
	.number = 3,
	.key = K128_A,
	.sector = 0x0,
	.len = 512,
	.pt = NULL,
	.ct = "54dd65b6326faea8fad1a83c63614af39f721d8dfe177a30b66abf6a449980e1"
	      "cdbe06afb73336f37a4d39de964a30d7d04a3799169c60258f6b748a61861aa5"
	      "ec92a2c15b2b7c615a42aba499bbd6b71db9c789b2182089a25dd3df800ed186"
	      "4d19f7ed45fd17a9480b0fb82d9b7fc3ed57e9a1140eaa778dd2dd679e3edc3d"
	      "c4d55c950ebc531d9592f7c4638256d56518292a20af98fdd3a63600350a70ab"
	      "5a40f4c285037ca01f251f19ecae0329ff77ad88cd5a4cdea2aeabc22148ffbd"
	      "239bd10515bde1131dec8404e443dc763140d5f22bf33e0c6872d6b81d630f6f"
	      "00cdd058fe80f9cbfb77707f93cee2ca92b915b8304027c190a84e2d65e018cc"
	      "6a387d3766acdb28253284e8db9acf8f52280ddc6d0033d2ccaaa4f9aeff1236"
	      "69bc024fd6768edf8bc1f8d622c19c609ef97f609190cd110241e7fb084ed894"
	      "2da1f9b9cf1b514b61a388b30ea61a4a745b381ee7ad6c4db1275453b8413f98"
	      "df6e4a40986ee4b59af5dfaecd301265179067a00d7ca35ab95abd617adea28e"
	      "c1c26a97de28b8bfe30120d6aefbd258c59e42d161e8065a78106bdca5cd90fb"
	      "3aac4e93866c8a7f9676860a79145bd92e02e819a90be0b97cc522b32106856f"
	      "df0e54d88e4624155a2f1c14eaeaa163f858e99a806e791acd82f1b0e29f0028"
	      "a4c38e976f571a93f4fd57d787c24db0e01ca304e5a5c4dd50cf8bdbf491e57c",
    },
    {
	.alg = "sm4",
	.number = 4,
	.key = "6249775724709369995957496696762702884197169399375105820974944592",
	.sector = 0xff,
	.pt = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	      "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	      "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
	      "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	      "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7f8f9fafbfc",
	.ct = "a29f9e4e71db283c800ef6b78e571cba90da3b6c220068301d630d9e6aad3755"
	      "bc771ec9ad8330d527b26677183ca6399c0aaa1f02e1d5659b8dc5973dc50453"
	      "7800e3b01a434eb7c49f38c57ba4706478e632d96544c564b8423599ff6675b0"
	      "22d39b6e8dcf6a24fd92b71b04282a61dc962a207a2cf1f91215f04dcf2bde33"
	      "41bce7858722b716021cd8a20f1fa3e9d84548e7be084e4e237984db4076f513"
	      "78924a2ff91bf280257451459a777897d3e0c7c435672ae6b30d629f8b",
    },
};

/*
 * A vector with a raw 16-byte tweak (random, or wider than 64 bits): no sector
 * number gives it, so it runs on a bare libgcrypt XTS handle, the primitive
 * the sector cipher drives.
 */
struct raw_vector {
	const char *alg;
	const char *source;
	const char *key;
	const char *tweak;
	const char *pt;
	const char *ct;
};

static const struct raw_vector raw_vectors[] = {
    {
	.alg = "twofish",
	.source = "Botan xts.vec Twofish/XTS entry 1",
	.key = "879ab1f37890ace3aa1ff21eb403c2029e225e4b82cc00cd6377ebfdf6a313ed"
	       "6152830450aba4e5eed0055968e66c81bb6df06bfa92910550819f0bcd3d484b",
	.tweak = "a5f270cdcb5d92fe5f19805aa93b7d13",
	.pt = "87527dded4d4e85f8db6d6d41eeab39c1f",
	.ct = "cace1598319d84999709808780dfb741ab",
    },
    {
	.alg = "twofish",
	.source = "Botan xts.vec Twofish/XTS entry 16",
	.key = "a9b5b5f8c41dbf50fc1f3d38b1d707ccc69a6f34d5549867c7c0a4c6a3dbbbe1"
	       "c8d404ccc0b080f6e7897442460141d28c6622d67db30010f59b49abf1e9629d",
	.tweak = "d76612d0ed6eaff8daa44f020f31af95",
	.pt = "600c9906025e0ad59334c97947099e0bb2a8459177d0dc40ddd7ae343fc68bc2",
	.ct = "1d0128e8306e6300506221fccf90895e537b9b520603920b06cd7699a9557dc9",
    },
    {
	.alg = "twofish",
	.source = "Botan xts.vec Twofish/XTS entry 240",
	.key = "03ab68e651bdf7a802b9cdce5979e8c5ba50011cc598debf9c96d5ab24a6d687"
	       "c2a13f7cb02da75cc169b630b70a03f899b8953e1e7a394a0dadc0317651a0bf",
	.tweak = "fc6a578b92c0de201c0d2397ea10faee",
	.pt = "ceef22020d5fe1e664d7b6a621599124b06396b2698aa835a1e7d18006dd7a1f"
	      "22a6dcb877c2d179be4aabb0930533b13bc6b81393d01b959a480a1b53063792"
	      "d3bc0070dbc433b7bc296bece86874fe1ef3b98e6e9953b5566baaa8e74b380e"
	      "8ac347128eabcb92d30ece67d9b4294fb24b697f8d3f9ce8a8ab20171a627d11"
	      "258d00f0e13e990a1b6ef0bd9019bbb7cdb3a0e6c2b8f45f599bd76d75d5cbe8"
	      "d1ba5802d9c08ae51972dad1ce1fecc12f4fab8d57725fc2d32ca6eed6099f07"
	      "d19f00ac51e9ec0e7f40027ae87b3b2a02577c1aceeb0672af205dade8336403"
	      "6c767a0f4a264e03cb3497a66122a4d713f84f3d6813327a1193a9de61d084aa",
	.ct = "8cef8dffe12d2e10b2587fd60464aee0b76d07d5b1f7b9165669c7643eac7777"
	      "6c0c6e4a1b7adc275d816d24b67c84a12397e4260db19651903dbdbbf15613d9"
	      "0e7ce72a1bf4eff3a67f05ccb9995d6429c1a3105ba79db70903c340bb969564"
	      "9eac32737229b4ef57efe6dbc638626d15765559782935fbe2f726b84bcc6f45"
	      "fa5580f9242d675443c7bd0834bc409420b546914711564b4e1649772d483a42"
	      "c93139d4bb95ef5ad6c4191ea5d50a5afbf3a5a574967a29772a091c2b841098"
	      "075596bbe5b5196b7f88aa39a43cfd4fd51e6011778958683954fdc644ad8085"
	      "3d47b1eed46863e18c1a9d2317ba6c82ac5333cf159f239324475077fa623cd2",
    },
    {
	.alg = "serpent",
	.source = "Botan xts.vec Serpent/XTS entry 1",
	.key = "2d2e5386bc3b936d07d9ce11e43ca175906837678b102fb8eef6d8a02b214ecd"
	       "8e4b76a03b93cd69075081d9baf99e83f88583e620e351b3c4172333969a7135",
	.tweak = "38ec40b118bf54a851f55d7659fc6fe2",
	.pt = "a64912329c9d3a304b838fb087750a63c9",
	.ct = "c5c91a425602b4ce6b81aef70c57cbd6fa",
    },
    {
	.alg = "serpent",
	.source = "Botan xts.vec Serpent/XTS entry 16",
	.key = "f05a9eec5de3364407272e15822008e57e1e808634cfadca76df0942d94bbb63"
	       "536d8aedb16c77b5faa086dd41fd8c7b62968fe2a0c6844db7feae51f22aa0c4",
	.tweak = "85f2d8ca7fe78836b6a98fafb03a911d",
	.pt = "62bb3594176f79e3c4d3e1a79e74544e7fbab57cad1d06175e660386522452f5",
	.ct = "1b87f8c19a41bcd059bda7605ef5d39b361383017b48ced06feb829bd096fd26",
    },
    {
	.alg = "serpent",
	.source = "Botan xts.vec Serpent/XTS entry 240",
	.key = "44765c5ed4baa0ff3fcfc4b6e574e7c640a221f64b699c61d4a96bb405eff36f"
	       "65a4957ca57d8efa04efce61de4f91f476f8951885ad50d842eaa74e9a75a577",
	.tweak = "da1a035d2f281d6962301c515c21aaad",
	.pt = "88cf2cd030d671a3407cc780e1229722f72271e9bbcdc01dfe11c94989aae8ea"
	      "df8bfdc610db7eea6f22d5599a81faa2dc4895cdffb30b65db1a28dbf334fa5b"
	      "c7657d59f2a99c3bf96a713a0f0c984e93d9b3e566629d9327acb2ae7078a026"
	      "ed4fe89bb0ad6ded7748fa222fdeec3953a27892f6109bf67669aeb9d725542e"
	      "10c583ae3a00d9a2d0bb642be1d553e7dec70499b91f6c7906379b1ce62e4db3"
	      "781bf9b40ecd87dc687e7ee5280ea0d338a62bdce0315d69a801f45b6476008c"
	      "6b3ff9514b2abd23b2a3177e41bff3bc664c58fd09b8868d2c4dec07b3b2769e"
	      "ad72c76eeadd4682a34c27de98eb7817e36ee71a5ef9cb052dafd65b9311ed1c",
	.ct = "e2047bcf89f120dd00e2ab2682e9798bbf01a16d3c55ebb5d12641be5e43c69e"
	      "27cf8316a17bf17ba6f977b2e10cf8fdd9a1498ef440969590bc10139e909083"
	      "b2131b1db88ef790a9541108a1c3cf6782ca7ca63c74a2e6bcdd1fb7a805c9a9"
	      "00addfc7b232ca7fff09da514adfc666b1acc86357ad2c12e9d6c2a8bc5c3ab8"
	      "c4df5fd895c568bb824fc39da96924054cb70b7ccb6db1756143035d5d212522"
	      "5026303c3270e8fe0f83dd54dd12e133defc481157bb2ba5cd37a2b93c2b21f8"
	      "57addff8cdda74e1a713e8d4e44d30b8edbd13b2afb9cd1f2d97283f9f53888d"
	      "5b59f98c66de5fa2950588df3e3641c52517f6f0717c4f14f7f778e405f74aac",
    },
    {
	.alg = "sm4",
	.source = "OpenSSL evpciph_sm4.txt, GB/T 17964-2021 data, XTSStandard = IEEE",
	.key = "2b7e151628aed2a6abf7158809cf4f3c000102030405060708090a0b0c0d0e0f",
	.tweak = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
	.pt = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
	      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17",
	.ct = "e9538251c71d7b80bbe4483fef497bd1b3db1a3e60408c575d63ff7db39f8326"
	      "0869f9e2585fec9f0b863bf8fd784b8627d16c0db6d2cfc7",
    },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_LEN	 512

/* libgcrypt's algorithm for one XTS half key of alg (what the sector cipher maps it to). */
static int gcry_xts_algo(const char *alg, size_t half_len)
{
	char name[32];

	if (strcmp(alg, "sm4") == 0)
		snprintf(name, sizeof(name), "SM4");
	else if (strcmp(alg, "twofish") == 0 && half_len == 32)
		snprintf(name, sizeof(name), "TWOFISH");
	else
		snprintf(name, sizeof(name), "%s%zu", alg, half_len * 8);
	return gcry_cipher_map_name(name);
}

/* One XTS data unit of len bytes on a bare libgcrypt handle, with a raw tweak block. */
static void gcry_xts(const char *alg, const uint8_t *key, size_t key_len, const uint8_t *tweak,
		     const uint8_t *in, uint8_t *out, size_t len, int enc)
{
	gcry_cipher_hd_t hd;
	int algo = gcry_xts_algo(alg, key_len / 2);

	CHECK(algo != 0);
	CHECK_OK(gcry_cipher_open(&hd, algo, GCRY_CIPHER_MODE_XTS, 0));
	CHECK_OK(gcry_cipher_setkey(hd, key, key_len));
	CHECK_OK(gcry_cipher_setiv(hd, tweak, 16));
	if (enc)
		CHECK_OK(gcry_cipher_encrypt(hd, out, len, in, len));
	else
		CHECK_OK(gcry_cipher_decrypt(hd, out, len, in, len));
	gcry_cipher_close(hd);
}

/* Deterministic filler for the rest of a unit around a short vector. */
static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 151);
}

struct loaded {
	uint8_t key[64];
	size_t key_len;
	uint8_t pt[MAX_LEN];
	uint8_t ct[MAX_LEN];
	size_t len;
};

static void load(const struct sector_vector *v, struct loaded *l)
{
	l->key_len = check_unhex(v->key, l->key, sizeof(l->key));
	CHECK(l->key_len == 32 || l->key_len == 64);
	l->len = check_unhex(v->ct, l->ct, sizeof(l->ct));
	CHECK(l->len >= 16 && (v->len == 0 || v->len == l->len));
	if (v->pt == NULL) {
		for (size_t i = 0; i < l->len; i++)
			l->pt[i] = (uint8_t)i;
	} else {
		CHECK_EQ(check_unhex(v->pt, l->pt, sizeof(l->pt)), l->len);
	}
}

/*
 * The vector through "<alg>-xts-<iv>" in 512-byte sectors, both directions.
 * A unit shorter than 512 bytes is the start of a sector: XTS blocks do not
 * chain, so block j of a sector depends only on its plaintext and the tweak
 * times alpha^j, and the sector's first bytes must be the vector's. Blocks
 * that take part in ciphertext stealing (a length not a multiple of 16) are
 * left out: a sector never steals.
 */
static void check_sector(const char *iv, const struct sector_vector *v, const struct loaded *l)
{
	struct sector_cipher *c = NULL, *d = NULL;
	uint8_t unit[1024], out[1024];
	size_t n = l->len % 16 == 0 ? l->len : l->len / 16 * 16 - 16;
	char spec[48];

	snprintf(spec, sizeof(spec), "%s-xts-%s", v->alg, iv);
	CHECK_OK(sector_cipher_new(spec, l->key, l->key_len, 512, &c));
	/* Encrypt: the plaintext at the start of a sector gives the ciphertext. */
	fill(unit, 512, (uint8_t)v->number);
	memcpy(unit, l->pt, n);
	CHECK_OK(sector_cipher_encrypt(c, unit, out, 512, v->sector));
	CHECK_MEM(out, l->ct, n);
	/* Decrypt: the ciphertext at the start of a sector gives the plaintext. */
	memcpy(unit, l->ct, n);
	CHECK_OK(sector_cipher_decrypt(c, unit, out, 512, v->sector));
	CHECK_MEM(out, l->pt, n);
	/*
	 * The same sector as the second unit of a two-sector request that starts
	 * one sector earlier (IV numbers wrap modulo 2^64, as in dm-crypt), in
	 * place, and decrypted by a thread's copy.
	 */
	fill(unit, 512, 0xa5);
	fill(unit + 512, 512, (uint8_t)v->number);
	memcpy(unit + 512, l->pt, n);
	memcpy(out, unit, sizeof(unit));
	CHECK_OK(sector_cipher_encrypt(c, out, out, sizeof(out), v->sector - 1));
	CHECK_MEM(out + 512, l->ct, n);
	CHECK_OK(sector_cipher_dup(c, &d));
	CHECK_OK(sector_cipher_decrypt(d, out, out, sizeof(out), v->sector - 1));
	CHECK_MEM(out, unit, sizeof(unit));
	sector_cipher_free(d);
	sector_cipher_free(c);
}

static void check_sector_vectors(void)
{
	for (size_t i = 0; i < NELEM(sector_vectors); i++) {
		const struct sector_vector *v = &sector_vectors[i];
		struct sector_cipher *c = NULL;
		uint8_t tweak[16] = {0}, buf[MAX_LEN];
		struct loaded l;
		char spec[48];

		load(v, &l);
		for (int b = 0; b < 8; b++)
			tweak[b] = (uint8_t)(v->sector >> (8 * b));
		/* The whole unit, stealing included, on a bare handle: both directions. */
		gcry_xts(v->alg, l.key, l.key_len, tweak, l.pt, buf, l.len, 1);
		CHECK_MEM(buf, l.ct, l.len);
		gcry_xts(v->alg, l.key, l.key_len, tweak, l.ct, buf, l.len, 0);
		CHECK_MEM(buf, l.pt, l.len);

		snprintf(spec, sizeof(spec), "%s-xts-plain64", v->alg);
		if (memcmp(l.key, l.key + l.key_len / 2, l.key_len / 2) == 0) {
			/* IEEE vector 1's equal key halves: the sector cipher refuses them. */
			CHECK_EQ(sector_cipher_new(spec, l.key, l.key_len, 512, &c), -EINVAL);
			printf("xts-ciphers: %s #%d (equal halves, libgcrypt only) ok\n", v->alg,
			       v->number);
			continue;
		}
		check_sector("plain64", v, &l);
		/* plain is the same IV while the sector number fits in 32 bits. */
		if (v->sector <= UINT32_MAX)
			check_sector("plain", v, &l);
		printf("xts-ciphers: %s-xts-plain64 2x%zu #%d (%zu bytes, sector 0x%" PRIx64
		       ") ok\n",
		       v->alg, l.key_len * 4, v->number, l.len, v->sector);
	}
}

static void check_raw_vectors(void)
{
	for (size_t i = 0; i < NELEM(raw_vectors); i++) {
		const struct raw_vector *v = &raw_vectors[i];
		uint8_t key[64], tweak[16], pt[MAX_LEN], ct[MAX_LEN], buf[MAX_LEN];
		size_t key_len = check_unhex(v->key, key, sizeof(key));
		size_t len = check_unhex(v->pt, pt, sizeof(pt));

		CHECK_EQ(check_unhex(v->tweak, tweak, sizeof(tweak)), 16);
		CHECK_EQ(check_unhex(v->ct, ct, sizeof(ct)), len);
		gcry_xts(v->alg, key, key_len, tweak, pt, buf, len, 1);
		CHECK_MEM(buf, ct, len);
		gcry_xts(v->alg, key, key_len, tweak, ct, buf, len, 0);
		CHECK_MEM(buf, pt, len);
		printf("xts-ciphers: %s 2x%zu, %zu bytes, raw tweak (%s) ok\n", v->alg, key_len * 4,
		       len, v->source);
	}
}

int main(void)
{
	CHECK_OK(crypto_gcry_init());
	check_sector_vectors();
	check_raw_vectors();
	printf("xts-ciphers: ok\n");
	return 0;
}
