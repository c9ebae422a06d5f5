/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The public re-encryption API: re-key, in-place encryption and decryption, on the engine below. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "crypto/backend.h"
#include "image/image.h"

VMC_API bool vmc_image_reencrypt_pending(const struct vmc_image *img)
{
	if (img->qcow2)
		return img->qcow2->rekey_pending;
	return img->meta.reencrypt;
}

/*
 * After an engine run, whatever its result: plaintext access as the header
 * now says. The result of the run wins; a clean stop (-ECANCELED) stays one.
 */
static int after_run(struct vmc_image *img, int r)
{
	int s = image_reattach(img);

	return r < 0 ? r : s;
}

VMC_API int vmc_image_rekey(struct vmc_image *img, const void *pass, size_t pass_len,
			    const struct vmc_reencrypt_params *p)
{
	struct reenc_dev dev;
	int r;

	if (img->qcow2)
		return image_qcow2_rekey(img, pass, pass_len, p);
	if ((r = image_need_writable(img)) < 0)
		return r;
	dev = image_dev(img);
	return after_run(img, reenc_rekey(&dev, pass, pass_len, p));
}

VMC_API int vmc_encrypt_in_place(const char *path, const struct vmc_format_params *fp,
				 uint64_t reduce_size, bool force, const void *pass,
				 size_t pass_len, const struct vmc_reencrypt_params *p,
				 struct vmc_image **ret_img)
{
	struct vmc_image *img = NULL;
	struct reenc_dev dev;
	int r;

	if ((r = reenc_encrypt_in_place_check(fp, reduce_size)) < 0)
		return r;
	r = image_new(path, fp->partition, 0, fp->raw ? "raw" : fp->format, fp->header,
		      STORAGE_CREATE | STORAGE_SECRET, false, &img);
	if (r < 0)
		return r;
	dev = image_dev(img);
	r = reenc_encrypt_in_place(&dev, fp, reduce_size, force, pass, pass_len, p);
	if (r < 0 && r != -ECANCELED)
		goto out;
	if (ret_img) {
		int s = img->meta.reencrypt ? image_unlock_reenc(img, pass, pass_len)
					    : image_reattach(img);
		if (s < 0) {
			r = s;
			goto out;
		}
		*ret_img = img;
		img = NULL;
	}
out:
	vmc_image_free(img);
	return r;
}

VMC_API int vmc_decrypt_in_place(struct vmc_image *img, const void *pass, size_t pass_len,
				 const struct vmc_reencrypt_params *p)
{
	struct reenc_dev dev;
	int r;

	if ((r = image_need_writable(img)) < 0 ||
	    (r = image_qcow2_refuse(img, "in-place decryption")) < 0)
		return r;
	dev = image_dev(img);
	r = reenc_decrypt_in_place(&dev, pass, pass_len, p);
	/* Moving the header out of the image hands the image its new header file. */
	img->hdr = dev.hdr;
	return after_run(img, r);
}
